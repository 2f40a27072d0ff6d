"""Cold start from one sentence: the statement attribute, its prior, and its files (no model)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edge_drift.attributes import STATEMENT, load_attribute_set
from edge_drift.errors import EdgeDriftError
from edge_drift.evaluation import STATEMENT_METHOD, PairFeatures, learning_curves
from edge_drift.fitting import STATEMENT_PRIOR_VOTES, replayed_weights, statement_prior
from edge_drift.profile import AttributeStat, Profile, validate_profile_data

SCHOLAR = "Write like a careful scholar: precise terms, citations, no hype."


def test_a_statement_is_one_more_attribute_that_a_new_one_replaces_and_none_removes():
    attributes = load_attribute_set().select(["concise", "formal"])
    said = attributes.with_statement(SCHOLAR)
    assert said.names == ["concise", "formal", STATEMENT]
    assert said.attributes[-1].prompt == f"{attributes.base} {SCHOLAR}"  # differs from the base by the sentence
    again = said.with_statement("Short answers.")
    assert again.names == said.names and again.attributes[-1].prompt.endswith("Short answers.")
    assert said.with_statement(None) == attributes


def synthetic(n: int, statement_sign: float, seed: int = 0) -> np.ndarray:
    """Differences chosen - rejected for 6 attributes plus a statement (last): attribute 0 tells chosen apart;
    the statement agrees with the person (sign +1) or contradicts them (-1)."""
    rng = np.random.default_rng(seed)
    D = rng.normal(0, 1, (n, 7))
    D[:, 0] += 2.0
    D[:, 6] = statement_sign * rng.uniform(1.0, 2.0, n)
    return D


def test_with_no_votes_the_statement_alone_steers_with_a_positive_weight():
    weights = replayed_weights(np.empty((0, 7)), statement=6)
    assert weights[6] == pytest.approx(1.0) and np.count_nonzero(weights) == 1


def test_votes_that_contradict_the_statement_take_its_weight_away():
    """A sentence that does not match the person's choices loses its weight once the votes outnumber its prior."""
    votes = 4 * STATEMENT_PRIOR_VOTES
    contradicted = replayed_weights(synthetic(votes, -1.0), statement=6)
    matching = replayed_weights(synthetic(votes, +1.0), statement=6)
    assert contradicted[6] < 0 < matching[6]
    assert matching[6] > 0.5 and contradicted[0] > 0  # the attribute the votes do support keeps its weight


def test_the_prior_fades_as_votes_come_in():
    fitted = np.zeros(7)
    fitted[0] = 1.0  # what the votes say, with no word about the statement
    share = [statement_prior(fitted, 6, n, 2)[6] for n in (0, 2, 10, 100)]
    assert share[0] == pytest.approx(1.0) and share == sorted(share, reverse=True) and share[-1] < 0.05


def profile_data(**changes) -> dict:
    stats = [AttributeStat(STATEMENT, f"You are an AI assistant. {SCHOLAR}", 1.0, 0.0, True)]
    profile = Profile(user="ada", slm={"file_name": "m.gguf", "size_bytes": 1, "sha256": "0" * 64, "n_vocab": 2,
                                       "has_chat_template": True},
                      base_prompt="You are an AI assistant.", attributes=stats, solver="select", n_pairs=0,
                      cv_accuracy=None, statement=SCHOLAR)
    return {**profile.to_dict(), **changes}


def test_a_profile_of_a_statement_and_no_votes_is_valid_and_keeps_its_sentence(tmp_path):
    loaded = validate_profile_data(json.loads(json.dumps(profile_data())), "ada", tmp_path / "profile.json")
    assert loaded.n_pairs == 0 and loaded.statement == SCHOLAR and [a.name for a in loaded.selected] == [STATEMENT]


def test_a_learning_curve_with_a_statement_starts_at_zero_votes():
    D = synthetic(60, +1.0)
    zeros = np.zeros(len(D))
    features = PairFeatures(D, np.zeros_like(D), zeros, zeros, zeros, zeros, statement=6)
    results = learning_curves("ada", features, [0, 10], n_test=20, seeds=3)
    at_zero = {r["method"]: r["accuracy_mean"] for r in results if r["n_train"] == 0}
    assert set(at_zero) == {STATEMENT_METHOD, "chance"} and at_zero[STATEMENT_METHOD] == 1.0
    fit_at_ten = [r for r in results if r["n_train"] == 10 and r["method"] == "fit"][0]
    assert fit_at_ten["accuracy_mean"] > 0.8  # the other methods never see the statement column


def test_statements_files_are_checked(tmp_path):
    from edge_drift.cli.common import read_statements

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"_note": "comment", "ada": SCHOLAR}))
    assert read_statements(good) == {"ada": SCHOLAR}
    for text in ("[1, 2]", '{"ada": ""}', "not json"):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(EdgeDriftError, match="user"):
            read_statements(bad)
