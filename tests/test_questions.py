"""Which compare round to ask: the posterior over a profile's weights and the rules, on synthetic votes."""
from __future__ import annotations

import numpy as np
import pytest

from edge_drift.attributes import load_attribute_set
from edge_drift.errors import EdgeDriftError
from edge_drift.profile import AttributeStat, Profile
from edge_drift.questions import attribute_questions, bald, laplace_posterior, leaning, next_question
from edge_drift.solvers import BT_L2

SCALE = np.ones(3)


def votes_along_first_attribute(n: int = 12) -> np.ndarray:
    """Differences (chosen - rejected) where only attribute 0 varies, always in the chosen answer's favour."""
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(0.5, 1.5, n), np.zeros(n), np.zeros(n)])


def test_votes_teach_the_attribute_they_vary_and_leave_the_others_at_the_prior():
    posterior = laplace_posterior(votes_along_first_attribute(), SCALE)
    assert posterior.mean[0] > 0 and np.allclose(posterior.mean[1:], 0)
    spread = posterior.attribute_spread()
    assert spread[0] < spread[1] and np.isclose(spread[1], 1 / np.sqrt(BT_L2))  # untouched: the prior


def test_no_votes_is_the_prior():
    posterior = laplace_posterior(np.empty((0, 3)), SCALE)
    assert np.all(posterior.mean == 0) and np.allclose(posterior.covariance, np.eye(3) / BT_L2)


def test_bald_ranks_a_pair_along_an_attribute_nobody_voted_on_above_one_whose_answer_is_known():
    posterior = laplace_posterior(votes_along_first_attribute(), SCALE)
    mean, variance = posterior.margins(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    known, unknown = bald(mean, variance)
    assert unknown > known


def test_bald_prefers_an_uncertain_pair_to_a_coin_flip_the_model_is_sure_of():
    """Margin 0 with no uncertainty is noise for every w (nothing to learn); the same margin with spread is not."""
    assert bald(np.array([0.0]), np.array([4.0]))[0] > bald(np.array([0.0]), np.array([1e-6]))[0]
    assert bald(np.array([5.0]), np.array([1.0]))[0] < bald(np.array([0.0]), np.array([1.0]))[0]


def test_a_live_round_asks_about_an_attribute_the_votes_have_not_settled():
    """Votes that all turned on attribute 0 settle it: the next round leans on another one, never a screened one."""
    D = votes_along_first_attribute()
    D = np.column_stack([D, np.full(len(D), np.nan)])  # attribute 3 was screened out on some pairs
    names = ["concise", "humor", "vivid", "formal"]
    for seed in range(10):
        question = next_question(D, names, {"concise": 0.9}, np.random.default_rng(seed))
        assert question.attribute in ("humor", "vivid") and question.information > 0
    assert {q.attribute for q in attribute_questions(D, names, {})} == {"concise", "humor", "vivid"}
    assert question.about() == f"more {question.attribute} vs less {question.attribute}"


def test_leaning_tilts_one_attribute_of_a_copy_and_leaves_the_profile_alone():
    attributes = load_attribute_set().select(["concise", "humor", "vivid"])
    stats = [AttributeStat("concise", "c", 0.8, 0.0, True), AttributeStat("humor", "h", -0.6, 0.0, True),
             AttributeStat("vivid", "v", 0.0, 0.0, False)]
    profile = Profile(user="ada", slm={}, base_prompt=attributes.base, attributes=stats, solver="select", n_pairs=3,
                      cv_accuracy=None)
    more, less = (leaning(profile, attributes, f"{sign}vivid", {}, "ada") for sign in "+-")
    assert {a.name: a.weight for a in more.attributes} == {"concise": 0.8, "humor": -0.6, "vivid": 0.8}
    assert {a.name: a.weight for a in less.attributes}["vivid"] == -0.8 and less.attributes[2].selected
    assert profile.attributes[2].weight == 0.0 and not profile.attributes[2].selected
    fresh = leaning(None, attributes, "-humor", {}, "bob")  # no profile yet: the attribute alone, full strength
    assert [(a.name, a.weight) for a in fresh.selected] == [("humor", -1.0)] and fresh.n_pairs == 0
    for bad in ("vivid", "+nope", "*vivid"):
        with pytest.raises(EdgeDriftError, match="lean"):
            leaning(profile, attributes, bad, {}, "ada")
