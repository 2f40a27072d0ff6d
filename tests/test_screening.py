"""Attribute screening and selection on synthetic reward differences where the right answer is known."""
from __future__ import annotations

import numpy as np

from edge_drift.screening import NO_SCREENING, ScreeningPlan, screen, signal_strength, strongest
from edge_drift.solvers import pairwise_accuracy, select_top


def informative_and_noise(n: int, seed: int = 0, informative: int = 3, noise_columns: int = 20):
    """The first `informative` attributes separate chosen from rejected; the rest are loud noise."""
    rng = np.random.default_rng(seed)
    signal = 1.0 + 0.5 * rng.normal(size=(n, informative))
    noise = 6.0 * rng.normal(size=(n, noise_columns)) + 1.5  # a non-zero mean that misleads the closed form
    return np.hstack([signal, noise])


def test_signal_strength_ranks_consistent_attributes_first():
    D = informative_and_noise(40)
    assert strongest(D, 3).tolist() == [0, 1, 2]
    assert signal_strength(-D).tolist() == signal_strength(D).tolist()  # a reliable anti-signal counts too


def test_select_top_keeps_only_the_consistent_attributes_and_beats_the_closed_form():
    train, test = informative_and_noise(30, seed=1), informative_and_noise(500, seed=2)
    w = select_top(train, 3)
    assert np.flatnonzero(w).tolist() == [0, 1, 2] and np.isclose(np.linalg.norm(w), 1.0)
    from edge_drift.solvers import drift_closed_form
    assert pairwise_accuracy(test, w) > 0.99 > pairwise_accuracy(test, drift_closed_form(train)) + 0.05


def counting_scorer(D: np.ndarray):
    calls = []

    def score(rows, columns):
        calls.append((list(rows), list(columns)))
        return D[np.ix_(rows, columns)]
    return score, calls


def test_screening_scores_few_attributes_after_the_first_pairs_and_rechecks():
    D = informative_and_noise(30)
    score, calls = counting_scorer(D)
    result = screen(30, D.shape[1], score, ScreeningPlan(after_pairs=8, keep=3, recheck_every=10))
    assert result.kept.tolist() == [0, 1, 2]
    assert result.full_rows == list(range(8)) + [17, 27]
    assert not np.isnan(D[:, result.kept] - result.differences[:, result.kept]).any()  # kept: complete, exact
    scored = np.isfinite(result.differences).sum()
    assert scored == 10 * 23 + 20 * 3  # full rows x all attributes + screened rows x kept ones
    assert all(len(columns) in (3, 23) for _, columns in calls)  # no backfill: the kept set never changed
    summary = result.summary([f"a{i}" for i in range(23)], ScreeningPlan(8, 3, 10))
    assert summary["fully_scored_pairs"] == 10 and len(summary["screened_out"]) == 20


def test_an_attribute_that_turns_out_strong_is_backfilled():
    D = informative_and_noise(30)
    D[:8, 0] = [2.0, -2.0] * 4  # attribute 0 says nothing at first (mean 0), then is reliable and strong
    D[8:, 0] += 2.0
    score, calls = counting_scorer(D)
    plan = ScreeningPlan(after_pairs=8, keep=3, recheck_every=2)
    result = screen(30, D.shape[1], score, plan)
    screened_calls = [(rows, columns) for rows, columns in calls if len(columns) < 23]
    assert 0 not in screened_calls[0][1]  # dropped after the first 8 pairs
    assert 0 in result.kept.tolist()  # back after the rechecks

    assert not np.isnan(result.differences[:, 0]).any()  # scored on the pairs it missed while out


def test_screening_is_incremental_and_can_be_turned_off():
    D = informative_and_noise(25)
    plan = ScreeningPlan(after_pairs=6, keep=4, recheck_every=5)
    whole = screen(25, D.shape[1], counting_scorer(D)[0], plan)
    prefix = screen(20, D.shape[1], counting_scorer(D)[0], plan)
    seen = np.isfinite(prefix.differences)  # later rows may only add cells (a backfill), never change one
    np.testing.assert_array_equal(whole.differences[:20][seen], prefix.differences[seen])
    assert prefix.full_rows == [r for r in whole.full_rows if r < 20]
    off = screen(25, D.shape[1], counting_scorer(D)[0], NO_SCREENING)
    assert len(off.kept) == D.shape[1] and np.isfinite(off.differences).all()


def test_solvers_that_need_every_attribute_fit_unscreened_by_default():
    from edge_drift.screening import default_plan

    assert default_plan("select") == ScreeningPlan()
    assert default_plan("bt") == NO_SCREENING and default_plan("contrast") == NO_SCREENING
