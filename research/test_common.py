"""Checks of the studies' shared helpers (run by hand: PYTHONPATH=.:research .venv/bin/python -m pytest research)."""
from __future__ import annotations

import numpy as np

import pytest

from common import RULES, choose_pair, distinctive_words, written_prompt
from edge_drift.questions import laplace_posterior

SCALE = np.ones(3)


def votes_along_first_attribute(n: int = 12) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(0.5, 1.5, n), np.zeros(n), np.zeros(n)])


def test_a_written_attribute_names_the_words_that_separate_chosen_from_rejected_answers():
    rng = np.random.default_rng(0)
    filler = [f"topic{i}" for i in range(40)]
    chosen = [f"Moreover, the {' '.join(rng.choice(filler, 3))} is indeed clear." for _ in range(30)]
    rejected = [f"lol the {' '.join(rng.choice(filler, 3))} is fun" for _ in range(30)]
    chosen[0] += " zebra"  # in one chosen answer only: too rare to rank above the consistent cues
    words = distinctive_words(chosen, rejected, 3)
    assert words[:3] == ["clear", "indeed", "moreover"]  # equal z: alphabetical
    everything = distinctive_words(chosen, rejected, 100)
    assert "the" not in everything and "is" not in everything  # in every answer: no separation
    assert "lol" not in everything and everything.index("zebra") > 2  # rejected cues are never asked for
    prompt = written_prompt("You are an AI assistant.", chosen, rejected, 3)
    assert prompt.startswith("You are an AI assistant. ") and "clear, indeed, moreover." in prompt


def test_the_informative_rules_ask_about_the_attribute_nobody_voted_on():
    """Two candidates of equal size: one along the learned attribute (its answer is already known), one along an
    attribute no vote has varied. Variance and BALD ask the second, every time."""
    posterior = laplace_posterior(votes_along_first_attribute(), SCALE)
    candidates = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for rule in ("variance", "bald"):
        picks = {choose_pair(rule, candidates, posterior, posterior.mean / posterior.scale, np.random.default_rng(s))
                 for s in range(20)}
        assert picks == {1}, rule
    picks = {choose_pair("random", candidates, posterior, None, np.random.default_rng(s)) for s in range(20)}
    assert picks == {0, 1}


def test_near_tie_asks_the_pair_the_profile_cannot_tell_apart():
    weights = np.array([1.0, -0.5, 0.0])
    candidates = np.array([[2.0, 0.0, 0.0], [0.5, 1.0, 0.3], [0.0, -2.0, 0.0]])
    posterior = laplace_posterior(np.empty((0, 3)), SCALE)
    assert choose_pair("near-tie", candidates, posterior, weights, np.random.default_rng(0)) == 1


def test_before_any_vote_the_rules_spread_their_first_question_over_ties():
    candidates = np.eye(3)  # all alike under the prior
    posterior = laplace_posterior(np.empty((0, 3)), SCALE)
    for rule in RULES:
        picks = {choose_pair(rule, candidates, posterior, None, np.random.default_rng(s)) for s in range(30)}
        assert picks == {0, 1, 2}, rule


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        choose_pair("psychic", np.eye(2), laplace_posterior(np.empty((0, 2)), np.ones(2)), None,
                    np.random.default_rng(0))
