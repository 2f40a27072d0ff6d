"""PAD: an explicit preference text and a (zero-shot or GGUF) personalized reward model."""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..decoding import Request
from ..errors import EdgeDriftError
from ..prompts import preference_sentence, system_prompt, with_preference, with_system
from .following import (DEFAULT_CANDIDATES, DEFAULT_GUIDANCE, SequenceFollower, SlmStrategy, only, ranked_attributes,
                        sequence_room, top_candidates)


def preference_from_profile(profile, top_attributes: int | None = None) -> str:
    """The profile's written preference, else a sentence from the attributes that steer (`ranked_attributes`)."""
    if getattr(profile, "preference_text", None):
        return profile.preference_text
    return preference_sentence(ranked_attributes(profile, top_attributes))


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

    def __init__(self, preference: str, reward_model=None, guidance: float = DEFAULT_GUIDANCE,
                 candidates: int = DEFAULT_CANDIDATES):
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
        return with_preference(system_prompt(base_prompt, request.system), self.preference)

    def llm_system(self, base_prompt: str, request: Request) -> str:
        if self.reward_model is not None:
            return self.rm_system(base_prompt, request)
        return super().llm_system(base_prompt, request)

    def processors(self, models, request, llm_messages):
        engine = self.reward_model or models.slm
        # with a PersRM the LLM's system already holds the preference (see llm_system)
        system = llm_messages[0]["content"] if self.reward_model else with_preference(llm_messages[0]["content"],
                                                                                        self.preference)
        prompt = engine.chat_tokens(with_system(system, request.messages))
        follower = self.follow(engine, [prompt], sequence_room([prompt], request, models))
        return [PadProcessor(follower, self.guidance, self.candidates)]
