"""sLM sequences that follow the LLM's answer token by token, and the strategies built on them."""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..contexts import Segment
from ..decoding import Models, Request, Strategy
from ..prompts import system_prompt, with_system


class SequenceFollower:
    """Keeps sLM sequences (one per prompt) in lockstep with the LLM's tokens; returns their logits.

    The first call syncs the prompts (reusing each sequence's KV cache from earlier turns); each
    later call appends the newly sampled token to every sequence in ONE batched llama_decode.
    """

    def __init__(self, context, prompts: list[list[int]]):
        if not prompts or len(prompts) > context.n_seq:
            raise ValueError(f"need 1..{context.n_seq} sLM prompts, got {len(prompts)}")
        self.context = context
        self.prompts = prompts
        self.n_seen: int | None = None  # LLM tokens the sequences have followed
        self.llm_prompt_length: int | None = None

    def __call__(self, input_ids: np.ndarray) -> np.ndarray:
        if self.n_seen is None:
            self.llm_prompt_length = len(input_ids)
            rows = self.context.sync(self.prompts)
        else:
            new = [int(t) for t in input_ids[self.n_seen:]]
            if len(new) == 1:
                rows = self.context.step(new * len(self.prompts))
            else:  # several tokens at once (llama-cpp-python does not do this today): decode them all
                rows = np.concatenate(self.context.decode([Segment(s, new, "last") for s in range(len(self.prompts))]))
        self.n_seen = len(input_ids)
        return rows


class SlmStrategy(Strategy):
    """A strategy that follows the conversation with sLM sequences (kept warm across turns)."""

    def __init__(self) -> None:
        self._context = None
        self._context_key = None
        self.follower: SequenceFollower | None = None

    def follow(self, engine, prompts: list[list[int]], n_ctx: int) -> SequenceFollower:
        key = (id(engine), len(prompts), n_ctx)
        if self._context is None or self._context_key != key:
            self.close()
            self._context = engine.context(len(prompts), n_ctx)
            self._context_key = key
        self.follower = SequenceFollower(self._context, prompts)
        return self.follower

    def close(self) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None


DEFAULT_CANDIDATES = 10  # top-k tokens PAD, ARGS and PANDA consider per step (ARGS's k)
DEFAULT_GUIDANCE = 1.0  # PAD's and ARGS's reward weight
ROOM_STEP = 1024  # sLM contexts grow in these steps, so a chat's later turns usually reuse the warm one


def sequence_room(prompts: list[list[int]], request: Request, models: Models) -> int:
    """Positions each sLM sequence needs (its prompt plus the whole answer), never more than the LLM's context.

    A context sized to the LLM's full window would cost its KV memory for every sequence (4 sequences x
    4096 positions is ~380 MB for the 135M model); most answers need a fraction of it.
    """
    need = max(map(len, prompts)) + request.settings.max_tokens + 1
    return min(models.llm.llm.n_ctx(), -(-need // ROOM_STEP) * ROOM_STEP)


def ranked_attributes(profile, top_attributes: int | None):
    """The attributes that steer, strongest first: those the fit selected (the profile's own record), or
    the top `top_attributes` by |weight| when asked for another number. Zero weights are dropped, one is kept."""
    ranked = sorted(profile.attributes, key=lambda a: -abs(a.weight))  # stable: ties keep the profile's order
    chosen = [a for a in ranked if a.selected] if top_attributes is None else ranked[:top_attributes]
    return [a for a in chosen if a.weight != 0.0] or ranked[:1]


class ProfileStrategy(SlmStrategy):
    """Shared by the strategies steered by a Drift profile: attribute sequences + base sequence."""

    def __init__(self, profile, top_attributes: int | None = None):
        super().__init__()
        self.top_attributes = top_attributes
        self.update_profile(profile)

    def update_profile(self, profile) -> None:
        """Use a (re)fitted profile from the next request on; the sLM context stays warm."""
        self.profile = profile
        self.attributes = ranked_attributes(profile, self.top_attributes)
        self.weights = np.array([a.weight for a in self.attributes], dtype=np.float32)

    def info(self) -> dict:
        return {"strategy": self.name, "attributes": {a.name: a.weight for a in self.attributes}}

    def attribute_follower(self, models: Models, request: Request, llm_messages: list[dict]) -> tuple[SequenceFollower, bool]:
        """Sequences 0..k-1: attribute prompts; k: the base prompt, unless the LLM's logits already are h_0."""
        base = system_prompt(self.profile.base_prompt, request.system)
        base_is_llm = models.shared and llm_messages[0]["content"] == base
        systems = [system_prompt(a.prompt, request.system) for a in self.attributes]
        if not base_is_llm:
            systems.append(base)
        prompts = [models.slm.chat_tokens(with_system(s, request.messages)) for s in systems]
        return self.follow(models.slm, prompts, sequence_room(prompts, request, models)), base_is_llm


def log_softmax_at(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """log softmax of each row (over the full vocabulary), read at the given columns."""
    return rows[..., columns] - logsumexp(rows, axis=-1, keepdims=True)


def top_candidates(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))


def only(candidates: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Logits that keep only the candidates: everything else gets -inf (the sampler never picks it)."""
    out = np.full(size, -np.inf, dtype=np.float32)
    out[candidates] = values
    return out
