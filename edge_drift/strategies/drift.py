"""Drift: attribute logits mixed into the LLM's, over the tokens it finds plausible."""
from __future__ import annotations

import math

import numpy as np

from ..errors import EdgeDriftError
from .following import ProfileStrategy, SequenceFollower


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

    def __init__(self, profile, beta: float | None = None, top_attributes: int | None = None,
                 plausibility: float = PLAUSIBILITY):
        super().__init__(profile, top_attributes)
        self.beta = profile.beta if beta is None else beta  # chat's /beta changes it between turns
        self.plausibility = plausibility
        self.last_mixer: DriftMixer | None = None

    def info(self) -> dict:
        return {**super().info(), "beta": self.beta}

    def processors(self, models, request, llm_messages):
        follower, base_is_llm = self.attribute_follower(models, request, llm_messages)
        self.last_mixer = DriftMixer(follower, self.weights, self.beta, base_is_llm, self.plausibility)
        return [self.last_mixer]
