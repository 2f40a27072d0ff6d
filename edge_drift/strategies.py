"""Decoding strategies on one engine: Drift, PAD, PANDA, ARGS, Best-of-N, prompt and plain."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
from scipy.special import logsumexp

from .decoding import Event, Models, PlainStrategy, Request, Strategy, generate_text
from .engine import Segment
from .errors import EdgeDriftError
from .rewards import Job, LogProbCache, score_job_groups, system_prompt


# -- shared machinery ---------------------------------------------------------------------------------
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


ROOM_STEP = 1024  # sLM contexts grow in these steps, so a chat's later turns usually reuse the warm one


def sequence_room(prompts: list[list[int]], request: Request, models: Models) -> int:
    """Positions each sLM sequence needs (its prompt plus the whole answer), never more than the LLM's context.

    A context sized to the LLM's full window would cost its KV memory for every sequence (4 sequences x
    4096 positions is ~380 MB for the 135M model); most answers need a fraction of it.
    """
    need = max(map(len, prompts)) + request.settings.max_tokens + 1
    return min(models.llm.llm.n_ctx(), -(-need // ROOM_STEP) * ROOM_STEP)


def ranked_attributes(profile, top_attributes: int | None):
    """The profile's top-k attributes by |weight| (zero weights dropped, at least one kept)."""
    ranked = sorted(profile.attributes, key=lambda a: -abs(a.weight))
    k = top_attributes or profile.top_k
    return [a for a in ranked[:k] if a.weight != 0.0] or ranked[:1]


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
        prompts = [models.slm.chat_tokens([{"role": "system", "content": s}, *request.messages]) for s in systems]
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


# -- Drift --------------------------------------------------------------------------------------------
# Drift steers among the tokens the LLM itself finds plausible: p_LLM(v) >= PLAUSIBILITY * max p_LLM
# (contrastive decoding's adaptive plausibility constraint). Without it a profile whose weights share a
# sign extrapolates by 1 + sum(w)/beta (5x for DSP literature) and the tail of h_i - h_0 takes over:
# "UP UP UP ..." (docs/RESULTS.md, "Drift's plausibility mask").
PLAUSIBILITY = 0.05


class DriftMixer:
    """logits = h_LLM + (1/beta) * sum_i w_i (h_i - h_0) over the LLM's plausible tokens, as a logits processor."""

    def __init__(self, follower: SequenceFollower, weights: np.ndarray, beta: float, base_is_llm: bool,
                 plausibility: float = PLAUSIBILITY):
        weights = np.asarray(weights, dtype=np.float32)
        if not (beta > 0 and math.isfinite(beta)):
            raise EdgeDriftError(f"beta must be a positive number, got {beta}")
        if not 0.0 <= plausibility < 1.0:
            raise EdgeDriftError(f"plausibility must be in [0, 1) (0 = every token), got {plausibility}")
        if weights.ndim != 1 or len(weights) == 0 or not np.all(np.isfinite(weights)):
            raise EdgeDriftError("drift weights must be a non-empty vector of finite numbers")
        if len(follower.prompts) != len(weights) + (0 if base_is_llm else 1):
            raise ValueError("need one sLM sequence per attribute (+ one for the base prompt)")
        self.follower = follower
        self.coefficients = weights / np.float32(beta)
        self.coefficient_sum = np.float32(self.coefficients.sum())
        self.base_is_llm = base_is_llm
        self.k = len(weights)
        self.log_plausibility = math.log(plausibility) if plausibility > 0 else -math.inf

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        rows = self.follower(input_ids)
        base = scores if self.base_is_llm else rows[self.k]
        # sum_i c_i (h_i - h_0) = c @ H - (sum c) h_0: one (k, V) product, no per-row loop
        mixed = scores + (self.coefficients @ rows[:self.k] - self.coefficient_sum * base)
        # a logit gap is a log-prob gap: tokens this far below the LLM's best are never sampled
        mixed[scores < scores.max() + self.log_plausibility] = -np.inf
        return mixed


class DriftStrategy(ProfileStrategy):
    """Drift decoding with a fitted profile's top attributes."""

    name = "drift"

    def __init__(self, profile, beta: float | None = None, top_attributes: int | None = None):
        super().__init__(profile, top_attributes)
        self.beta = profile.beta if beta is None else beta  # chat's /beta changes it between turns
        self.last_mixer: DriftMixer | None = None

    def info(self) -> dict:
        return {**super().info(), "beta": self.beta}

    def processors(self, models, request, llm_messages):
        follower, base_is_llm = self.attribute_follower(models, request, llm_messages)
        self.last_mixer = DriftMixer(follower, self.weights, self.beta, base_is_llm)
        return [self.last_mixer]


# -- ARGS and PANDA: reward-guided top-k decoding with the profile's reward -----------------------------
class TokenReward:
    """r(z) = sum_i w_i [log p_i(z) - log p_0(z)]: the profile's reward of extending the answer by z.

    The reward of the extended prefix is the prefix's reward plus this term, and the prefix part is
    the same for every candidate, so ranking candidates by it equals ARGS's reward of prefix + z.
    """

    def __init__(self, follower: SequenceFollower, weights: np.ndarray, base_is_llm: bool):
        self.follower, self.weights, self.base_is_llm = follower, np.asarray(weights, np.float64), base_is_llm
        self.k = len(weights)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        rows = self.follower(input_ids)
        attribute = log_softmax_at(rows[:self.k].astype(np.float64), candidates)
        base_row = scores if self.base_is_llm else rows[self.k]
        base = log_softmax_at(np.asarray(base_row, np.float64), candidates)
        return self.weights @ (attribute - base)


class ArgsProcessor:
    """score(v) = log p_LLM(v) + w * r(v) over the LLM's top-k tokens (ARGS, k = 10)."""

    def __init__(self, reward: TokenReward, weight: float, k: int):
        self.reward, self.weight, self.k = reward, weight, k

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        candidates = top_candidates(scores, self.k)
        logp = log_softmax_at(np.asarray(scores, np.float64), candidates)
        return only(candidates, logp + self.weight * self.reward(input_ids, scores, candidates), len(scores))


class ArgsStrategy(ProfileStrategy):
    name = "args"

    def __init__(self, profile, guidance: float = 1.0, candidates: int = 10, top_attributes: int | None = None):
        super().__init__(profile, top_attributes)
        if candidates < 1:
            raise EdgeDriftError("--candidates must be >= 1")
        self.guidance, self.candidates = guidance, candidates

    def info(self) -> dict:
        return {**super().info(), "guidance": self.guidance, "candidates": self.candidates}

    def processors(self, models, request, llm_messages):
        follower, base_is_llm = self.attribute_follower(models, request, llm_messages)
        return [ArgsProcessor(TokenReward(follower, self.weights, base_is_llm), self.guidance, self.candidates)]


@dataclass(frozen=True)
class PandaSchedule:
    """How PANDA picks lambda(x, t) from its candidate set at each step.

    - Steer only where the base model hesitates: if the entropy of its top-k distribution is below
      `min_entropy` nats the step keeps lambda = 0 (syntax, names and facts stay the base model's).
    - Otherwise take the LARGEST lambda whose top-k distribution stays within `max_kl` nats of the
      base's: strong steering where the reward picks among plausible tokens, weak where it would
      override the base model, which is what makes a fixed large lambda degenerate.
    """

    lambdas: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    max_kl: float = 0.5
    min_entropy: float = 0.3

    def choose(self, logp: np.ndarray, reward: np.ndarray) -> float:
        p0 = np.exp(logp - logsumexp(logp))
        if -(p0 * np.log(np.maximum(p0, 1e-30))).sum() < self.min_entropy:
            return 0.0
        chosen = 0.0
        for lam in sorted(self.lambdas):
            steered = logp + lam * reward
            log_q = steered - logsumexp(steered)
            q = np.exp(log_q)
            if (q * (log_q - np.log(np.maximum(p0, 1e-30)))).sum() <= self.max_kl:
                chosen = lam
        return chosen


class PandaProcessor:
    def __init__(self, reward: TokenReward, schedule: PandaSchedule, k: int):
        self.reward, self.schedule, self.k = reward, schedule, k
        self.chosen: list[float] = []

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        candidates = top_candidates(scores, self.k)
        logp = log_softmax_at(np.asarray(scores, np.float64), candidates)
        reward = self.reward(input_ids, scores, candidates)
        lam = self.schedule.choose(logp, reward)
        self.chosen.append(lam)
        return only(candidates, logp + lam * reward, len(scores))


class PandaStrategy(ProfileStrategy):
    name = "panda"

    def __init__(self, profile, candidates: int = 10, schedule: PandaSchedule | None = None,
                 top_attributes: int | None = None):
        super().__init__(profile, top_attributes)
        self.candidates = candidates
        self.schedule = schedule or PandaSchedule()
        self.last: PandaProcessor | None = None

    def info(self) -> dict:
        lambdas = self.last.chosen if self.last else []
        return {**super().info(), "candidates": self.candidates, "max_kl": self.schedule.max_kl,
                "mean_lambda": float(np.mean(lambdas)) if lambdas else 0.0,
                "steered_steps": int(np.count_nonzero(lambdas))}

    def processors(self, models, request, llm_messages):
        follower, base_is_llm = self.attribute_follower(models, request, llm_messages)
        self.last = PandaProcessor(TokenReward(follower, self.weights, base_is_llm), self.schedule, self.candidates)
        return [self.last]


# -- PAD: explicit preference text and a (zero-shot or GGUF) personalized reward model -----------------
def preference_from_profile(profile) -> str:
    """A preference sentence from the profile's strongest attributes, when none was written."""
    if getattr(profile, "preference_text", None):
        return profile.preference_text
    ranked = ranked_attributes(profile, profile.top_k)
    likes = [a.name.replace("_", " ") for a in ranked if a.weight > 0]
    dislikes = [a.name.replace("_", " ") for a in ranked if a.weight < 0]
    parts = []
    if likes:
        parts.append("answers that are " + ", ".join(likes))
    if dislikes:
        parts.append("not " + ", ".join(dislikes))
    return "The user prefers " + "; ".join(parts) + "." if parts else "The user has no stated preference."


class PadProcessor:
    """score(a) = h_base(a) + w * [logsoftmax_topk(h_RM)(a) - logsoftmax_topk(h_base)(a)], a in top-k."""

    def __init__(self, follower: SequenceFollower, weight: float, k: int):
        self.follower, self.weight, self.k = follower, weight, k

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        h_rm = self.follower(input_ids)[0]
        candidates = top_candidates(scores, self.k)
        h_base = np.asarray(scores[candidates], np.float64)
        rm = np.asarray(h_rm[candidates], np.float64)
        term = (rm - logsumexp(rm)) - (h_base - logsumexp(h_base))
        return only(candidates, h_base + self.weight * term, len(scores))


class PadStrategy(SlmStrategy):
    """PAD. Without --reward-model the instruct model itself, told the preference, is the zero-shot RM
    (then the base policy does not see the preference, or both would agree and steer nothing);
    with a PersRM GGUF both see it, as in the paper."""

    name = "pad"

    def __init__(self, preference: str, reward_model=None, guidance: float = 1.0, candidates: int = 10):
        super().__init__()
        if not preference or not preference.strip():
            raise EdgeDriftError("PAD needs a preference text: pass --preference TEXT or a profile with one")
        self.preference, self.reward_model = preference.strip(), reward_model
        self.guidance, self.candidates = guidance, candidates

    def info(self) -> dict:
        return {"strategy": self.name, "preference": self.preference, "guidance": self.guidance,
                "candidates": self.candidates,
                "reward_model": self.reward_model.path.name if self.reward_model else "zero-shot (same model)"}

    def rm_system(self, base_prompt: str, request: Request) -> str:
        return f"{system_prompt(base_prompt, request.system)} {self.preference}"

    def llm_system(self, base_prompt: str, request: Request) -> str:
        if self.reward_model is not None:
            return self.rm_system(base_prompt, request)
        return super().llm_system(base_prompt, request)

    def processors(self, models, request, llm_messages):
        engine = self.reward_model or models.slm
        # with a PersRM the LLM's system already holds the preference (see llm_system)
        system = llm_messages[0]["content"] if self.reward_model else f"{llm_messages[0]['content']} {self.preference}"
        prompt = engine.chat_tokens([{"role": "system", "content": system}, *request.messages])
        follower = self.follow(engine, [prompt], sequence_room([prompt], request, models))
        return [PadProcessor(follower, self.guidance, self.candidates)]


# -- system-prompt baseline and Best-of-N ---------------------------------------------------------------
class PromptStrategy(Strategy):
    """The profile's top attributes written into the LLM's system prompt."""

    name = "prompt"

    def __init__(self, profile, top_attributes: int | None = None):
        self.profile = profile
        self.attributes = ranked_attributes(profile, top_attributes)

    def llm_system(self, base_prompt: str, request: Request) -> str:
        return f"{system_prompt(base_prompt, request.system)} {preference_from_profile(self.profile)}"

    def info(self) -> dict:
        return {"strategy": self.name, "attributes": {a.name: a.weight for a in self.attributes}}


def profile_rewards(engine, profile, attributes, request: Request, answers: list[str]) -> np.ndarray:
    """R(x, y) = sum_i w_i [log p(y | s_i, x) - log p(y | s_0, x)] for each answer (batched scoring)."""
    history, prompt = tuple(request.messages[:-1]), request.messages[-1]["content"]
    systems = [system_prompt(profile.base_prompt, request.system)]
    systems += [system_prompt(a.prompt, request.system) for a in attributes]
    jobs = [[Job(s, history, prompt, y) for s in systems] for y in answers]
    cache = LogProbCache(engine.identity.sha256, max_response_tokens=engine.llm.n_ctx())
    score_job_groups(engine, [[job for group in jobs for job in group]], cache)
    weights = np.array([a.weight for a in attributes])
    values = np.array([[cache.entries[job.key] for job in group] for group in jobs])
    return (values[:, 1:] - values[:, :1]) @ weights


class BestOfNStrategy(Strategy):
    """Sample N answers from the plain LLM and keep the one the profile's reward ranks highest."""

    name = "best-of-n"

    def __init__(self, profile, samples: int = 4, top_attributes: int | None = None):
        if samples < 1:
            raise EdgeDriftError("--samples must be >= 1")
        self.profile, self.samples = profile, samples
        self.attributes = ranked_attributes(profile, top_attributes)
        self.rewards: list[float] = []

    def info(self) -> dict:
        return {"strategy": self.name, "samples": self.samples, "rewards": [round(r, 3) for r in self.rewards],
                "attributes": {a.name: a.weight for a in self.attributes}}

    def stream(self, models: Models, request: Request, base_prompt: str) -> Iterator[Event]:
        start = time.perf_counter()
        settings = request.settings
        temperature = settings.temperature if settings.temperature > 0 else 0.8  # N greedy samples are one
        answers, events = [], []
        for i in range(self.samples):
            seed = (settings.seed if settings.seed is not None else 1234) + i
            sample = replace(request, settings=replace(settings, temperature=temperature, seed=seed))
            text, event = generate_text(models, PlainStrategy(), sample, base_prompt)
            answers.append(text)
            events.append(event)
        self.rewards = profile_rewards(models.slm, self.profile, self.attributes, request, answers).tolist()
        best = int(np.argmax(self.rewards))
        yield Event(answers[best])
        yield Event("", done=True, n_tokens=events[best].n_tokens, seconds=time.perf_counter() - start,
                    finish_reason=events[best].finish_reason, info={**self.info(), "chosen": best, "answers": answers})


# -- registry -------------------------------------------------------------------------------------------
STRATEGY_NAMES = ("drift", "pad", "panda", "args", "best-of-n", "prompt", "plain")


# Every numeric knob of every strategy: (lowest allowed, whether the bound itself is allowed, what it means).
KNOB_RULES = {
    "beta": (0.0, False, "drift's strength (larger = closer to plain)"),
    "guidance": (0.0, True, "pad/args reward weight"),
    "max_kl": (0.0, False, "panda's KL cap in nats"),
    "candidates": (1, True, "top-k tokens considered per step"),
    "samples": (1, True, "best-of-n answers sampled"),
    "top_attributes": (1, True, "attributes used for steering"),
}


def check_knob(name: str, value) -> None:
    """One rule per knob, used by the library, the CLI (at parse time) and the server alike."""
    low, inclusive, meaning = KNOB_RULES[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        (value >= low if inclusive else value > low)
    if ok and isinstance(low, int) and not float(value).is_integer():
        ok = False
    if not ok:
        bound = f">= {low}" if inclusive else f"> {low}"
        raise EdgeDriftError(f"--{name.replace('_', '-')} must be a number {bound} ({meaning}), got {value!r}")


def make_strategy(name: str, profile=None, *, beta: float | None = None, top_attributes: int | None = None,
                  guidance: float | None = None, candidates: int = 10, samples: int = 4,
                  preference: str | None = None, reward_model=None, max_kl: float | None = None) -> Strategy:
    """Build a strategy by name with its options; an unknown name lists the valid ones, a bad number says why."""
    if name not in STRATEGY_NAMES:
        raise EdgeDriftError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    knobs = {"beta": beta, "top_attributes": top_attributes, "guidance": guidance, "candidates": candidates,
             "samples": samples, "max_kl": max_kl}
    for knob, value in knobs.items():
        if value is not None:
            check_knob(knob, value)
    if name == "plain":
        return PlainStrategy()
    if name == "pad":
        text = preference or (preference_from_profile(profile) if profile else None)
        return PadStrategy(text, reward_model, 1.0 if guidance is None else guidance, candidates)
    if profile is None:
        raise EdgeDriftError(f"strategy {name!r} needs a profile: pass --user USER")
    if name == "drift":
        return DriftStrategy(profile, beta, top_attributes)
    if name == "args":
        return ArgsStrategy(profile, 1.0 if guidance is None else guidance, candidates, top_attributes)
    if name == "panda":
        schedule = PandaSchedule() if max_kl is None else PandaSchedule(max_kl=max_kl)
        return PandaStrategy(profile, candidates, schedule, top_attributes)
    if name == "best-of-n":
        return BestOfNStrategy(profile, samples, top_attributes)
    return PromptStrategy(profile, top_attributes)
