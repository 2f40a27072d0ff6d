"""The fast layer: the per-token mixers, PANDA's schedule and the selection rules on tiny vocabularies, where the
right answer is known by hand. No model is loaded; the sLM rows are given directly."""
from __future__ import annotations

import numpy as np
import pytest

from edge_drift.errors import EdgeDriftError
from edge_drift.strategies import (ArgsProcessor, DriftMixer, PadProcessor, PandaProcessor, PandaSchedule, TokenReward,
                                   log_softmax_at, only, top_candidates)


class Rows:
    """Stands in for a SequenceFollower: returns fixed sLM logits (one row per prompt) and counts calls."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=np.float32)
        self.prompts = [[0]] * len(self.rows)
        self.calls = 0

    def __call__(self, input_ids):
        self.calls += 1
        return self.rows


H_LLM = np.array([1.0, 2.0, 0.0, -1.0], dtype=np.float32)
H_0 = np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32)       # base-prompt sLM row
H_1 = np.array([3.0, 1.0, 0.0, 0.0], dtype=np.float32)       # "concise" row: likes token 0
H_2 = np.array([0.0, 1.0, 2.0, 0.0], dtype=np.float32)       # "humor" row: likes token 2


def test_drift_mixer_adds_weighted_attribute_shifts_over_beta():
    # plausibility 0: every token is steered (the mask has a test of its own)
    mixer = DriftMixer(Rows([H_1, H_2, H_0]), np.array([0.8, -0.6]), beta=0.5, base_is_llm=False, plausibility=0.0)
    out = mixer(np.array([5, 6]), H_LLM.copy())
    expected = H_LLM + (0.8 * (H_1 - H_0) - 0.6 * (H_2 - H_0)) / 0.5
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert int(np.argmax(out)) == 0  # concise's favourite wins, humor's is pushed down
    assert out[2] < H_LLM[2]


def test_drift_mixer_uses_the_llm_row_as_base_when_they_are_one_model_and_zero_weights_are_plain():
    shared = DriftMixer(Rows([H_1]), np.array([1.0]), beta=2.0, base_is_llm=True, plausibility=0.0)
    np.testing.assert_allclose(shared(np.array([1]), H_LLM.copy()), H_LLM + (H_1 - H_LLM) / 2.0, rtol=1e-6)
    off = DriftMixer(Rows([H_1, H_0]), np.array([0.0]), beta=0.5, base_is_llm=False, plausibility=0.0)
    np.testing.assert_array_equal(off(np.array([1]), H_LLM.copy()), H_LLM)


def test_drift_mixer_does_not_modify_its_input_and_validates_once():
    scores = H_LLM.copy()
    DriftMixer(Rows([H_1, H_0]), np.array([1.0]), beta=1.0, base_is_llm=False)(np.array([1]), scores)
    np.testing.assert_array_equal(scores, H_LLM)
    for beta in (0.0, -1.0, float("nan")):
        with pytest.raises(EdgeDriftError, match="beta"):
            DriftMixer(Rows([H_1, H_0]), np.array([1.0]), beta=beta, base_is_llm=False)
    with pytest.raises(EdgeDriftError, match="finite"):
        DriftMixer(Rows([H_1, H_0]), np.array([np.inf]), beta=1.0, base_is_llm=False)
    with pytest.raises(ValueError, match="one sLM sequence per attribute"):
        DriftMixer(Rows([H_1]), np.array([1.0]), beta=1.0, base_is_llm=False)


def test_drift_mixer_never_promotes_a_token_the_llm_finds_implausible():
    llm = np.array([5.0, 4.0, 0.0, -3.0], dtype=np.float32)  # p(2)/p(0) = e^-5 < 0.05: implausible
    likes_token_2 = np.array([0.0, 0.0, 9.0, 0.0], dtype=np.float32)
    masked = DriftMixer(Rows([likes_token_2]), np.array([1.0]), beta=0.5, base_is_llm=True)(np.array([1]), llm.copy())
    free = DriftMixer(Rows([likes_token_2]), np.array([1.0]), beta=0.5, base_is_llm=True,
                      plausibility=0.0)(np.array([1]), llm.copy())
    assert int(np.argmax(free)) == 2  # unmasked, the attribute's tail token would win
    assert np.isneginf(masked[[2, 3]]).all()  # never sampled
    np.testing.assert_array_equal(masked[:2], free[:2])  # the plausible ones are steered exactly as before
    for bad in (1.0, -0.1):
        with pytest.raises(EdgeDriftError, match="plausibility"):
            DriftMixer(Rows([H_1]), np.array([1.0]), beta=1.0, base_is_llm=True, plausibility=bad)


def test_token_reward_is_the_weighted_log_probability_gain():
    reward = TokenReward(Rows([H_1, H_0]), np.array([1.0]), base_is_llm=False)
    candidates = np.array([0, 1])
    got = reward(np.array([1]), H_LLM, candidates)
    logp = lambda row: row[candidates] - np.log(np.exp(row).sum())  # noqa: E731
    np.testing.assert_allclose(got, logp(H_1.astype(np.float64)) - logp(H_0.astype(np.float64)), rtol=1e-9)
    assert got[0] > 0 > got[1]


def test_args_keeps_only_the_top_k_and_adds_guidance_times_reward():
    processor = ArgsProcessor(TokenReward(Rows([H_1, H_0]), np.array([1.0]), base_is_llm=False), weight=2.0, k=2)
    out = processor(np.array([1]), H_LLM)
    assert np.isneginf(out[[2, 3]]).all()  # outside the LLM's top 2 (tokens 1 and 0): never sampled
    assert out[0] > out[1]  # without the reward token 1 leads (2.0 > 1.0); guidance 2 flips it
    assert top_candidates(H_LLM, 2).tolist() in ([0, 1], [1, 0])


def test_panda_schedule_steers_only_where_the_base_hesitates_and_within_the_kl_cap():
    schedule = PandaSchedule(lambdas=(0.0, 1.0, 4.0), max_kl=0.5, min_entropy=0.3)
    confident = np.log(np.array([0.999, 0.0005, 0.0005]))
    assert schedule.choose(confident, np.array([0.0, 5.0, 5.0])) == 0.0  # syntax-like step: keep the base
    hesitant = np.log(np.array([0.5, 0.5, 1e-9]))
    assert schedule.choose(hesitant, np.array([0.0, 0.3, 0.0])) == 4.0  # a gentle reward: the strongest lambda fits
    # lambda 1 moves p from (.5, .5) to (.12, .88): KL 0.33; lambda 4 to (.0003, .9997): KL 0.69 > 0.5
    assert schedule.choose(hesitant, np.array([0.0, 2.0, 0.0])) == 1.0  # a strong one: capped by the KL bound
    processor = PandaProcessor(TokenReward(Rows([H_1, H_0]), np.array([1.0]), base_is_llm=False), schedule, k=3)
    processor(np.array([1]), H_LLM)
    assert processor.chosen and processor.chosen[0] in schedule.lambdas


def test_pad_rescales_within_the_top_k_by_the_reward_models_preference():
    rm = np.array([5.0, 0.0, 0.0, 0.0], dtype=np.float32)  # the RM loves token 0
    out = PadProcessor(Rows([rm]), weight=1.0, k=2)(np.array([1]), H_LLM)
    candidates = np.array([1, 0])
    base = H_LLM[candidates].astype(np.float64)
    term = (rm[candidates] - np.log(np.exp(rm[candidates]).sum())) - (base - np.log(np.exp(base).sum()))
    np.testing.assert_allclose(out[candidates], base + term, rtol=1e-6)
    assert int(np.argmax(out)) == 0 and np.isneginf(out[[2, 3]]).all()


def test_helpers_on_known_values():
    rows = np.log(np.array([[0.5, 0.25, 0.25]]))
    np.testing.assert_allclose(log_softmax_at(rows, np.array([0, 2])), np.log([[0.5, 0.25]]))
    np.testing.assert_array_equal(only(np.array([2]), np.array([7.0]), 3), [-np.inf, -np.inf, 7.0])


def test_steering_uses_the_attributes_the_fit_selected_unless_asked_for_another_number():
    from edge_drift.profile import AttributeStat, Profile
    from edge_drift.strategies import preference_from_profile, ranked_attributes

    stats = [AttributeStat("concise", "c", 0.9, 0.0, True), AttributeStat("humor", "h", -0.5, 0.0, True),
             AttributeStat("vivid", "v", 0.7, 0.0, False), AttributeStat("formal", "f", 0.0, 0.0, False)]
    profile = Profile(user="dee", slm={}, base_prompt="b", attributes=stats, solver="bt", n_pairs=3,
                      cv_accuracy=None, top_k=2)
    assert [a.name for a in ranked_attributes(profile, None)] == ["concise", "humor"]  # the fit's record
    assert [a.name for a in ranked_attributes(profile, 3)] == ["concise", "vivid", "humor"]  # by |weight|
    assert [a.name for a in ranked_attributes(profile, 4)] == ["concise", "vivid", "humor"]  # zero weight dropped
    assert preference_from_profile(profile) == "The user prefers answers that are concise; not humor."
    for stat in stats:
        stat.weight = 0.0
    assert [a.name for a in ranked_attributes(profile, None)] == ["concise"]  # all zero: one kept (steers nothing)
