"""ARGS and PANDA: reward-guided top-k decoding with the profile's reward."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..errors import EdgeDriftError
from .following import DEFAULT_CANDIDATES, DEFAULT_GUIDANCE, ProfileStrategy, SequenceFollower, log_softmax_at, only, top_candidates


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

    def __init__(self, profile, guidance: float = DEFAULT_GUIDANCE, candidates: int = DEFAULT_CANDIDATES,
                 top_attributes: int | None = None):
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

    def __init__(self, profile, candidates: int = DEFAULT_CANDIDATES, schedule: PandaSchedule | None = None,
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
