"""Solver math on synthetic reward differences (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest

from edge_drift.solvers import (as_decoded, bradley_terry, contrast_select, cross_validated_accuracy, drift_closed_form,
                                fit_weights, pairwise_accuracy, select_top, solve, top_k)


def synthetic(n: int, k: int = 8, seed: int = 0, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=k)
    true /= np.linalg.norm(true)
    return true, 2.0 * true + noise * rng.normal(size=(n, k))


def test_closed_form_recovers_known_direction():
    true, differences = synthetic(400)
    w = drift_closed_form(differences)
    assert np.isclose(np.linalg.norm(w), 1.0)
    assert w @ true > 0.98


def test_closed_form_is_sum_over_norm():
    differences = np.array([[1.0, 2.0], [3.0, -1.0]])
    np.testing.assert_allclose(drift_closed_form(differences), np.array([4.0, 1.0]) / np.sqrt(17))
    assert not drift_closed_form(np.zeros((3, 2))).any()


def test_bradley_terry_finds_the_direction_and_has_unit_norm():
    # noisy (non-separable) data: on separable data any separator is optimal, so no direction test
    true, differences = synthetic(200, noise=2.0)
    w = bradley_terry(differences)
    assert np.isclose(np.linalg.norm(w), 1.0)
    assert w @ true > 0.9
    assert pairwise_accuracy(differences, w) >= pairwise_accuracy(differences, true) - 0.02


def test_pairwise_accuracy_counts_ties_half():
    differences = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]])
    assert pairwise_accuracy(differences, np.array([1.0, 0.0])) == pytest.approx((1 + 0 + 0.5) / 3)


def test_cross_validation_needs_four_pairs_and_scores_held_out():
    true, differences = synthetic(3)
    assert cross_validated_accuracy(differences, "drift") is None
    true, differences = synthetic(60, noise=0.3)
    assert cross_validated_accuracy(differences, "drift") > 0.9
    assert cross_validated_accuracy(-differences, "drift") > 0.9  # direction is learned, not assumed


def test_auto_never_tries_bradley_terry_on_scarce_data_and_reports_cv():
    _, differences = synthetic(6)
    fit = fit_weights(differences, "auto")
    assert fit.solver in ("select", "drift") and fit.cv_accuracy is not None
    # 60 pairs where the mean direction misleads: attribute 0 is small but always right, attribute 1 has a
    # large mean and huge noise. Drift's d/||d|| follows attribute 1; Bradley-Terry finds attribute 0.
    rng = np.random.default_rng(0)
    differences = np.stack([np.abs(rng.normal(0.3, 0.1, 60)), 3.0 + 10.0 * rng.normal(size=60)], axis=1)
    assert cross_validated_accuracy(differences, "drift") < 0.7
    fit = fit_weights(differences, "auto")
    assert fit.solver == "bt" and fit.cv_accuracy > 0.95 and abs(fit.weights[0]) > 0.99
    with pytest.raises(ValueError, match="unknown solver"):
        fit_weights(differences, "sgd")


def test_cross_validation_scores_only_the_weights_that_steer():
    # Part of the preference is a contrast: attributes 0 and 1 share a noise and differ by an always-positive
    # signal, which Bradley-Terry exploits with weights of opposite signs on both; attribute 2 alone is a
    # plain signal. With 3 attributes steering, `auto` rightly keeps Bradley-Terry; with 1, it must not:
    # bt's largest weight alone is half of its contrast, and ranks worse than select's one attribute.
    rng = np.random.default_rng(0)
    shared = rng.normal(size=80)
    differences = np.stack([shared + np.abs(rng.normal(0.5, 0.2, 80)), shared, rng.normal(1.0, 1.0, 80)], axis=1)
    assert cross_validated_accuracy(differences, "bt", k=3) > 0.85
    assert cross_validated_accuracy(differences, "bt", k=1) < cross_validated_accuracy(differences, "select", k=1)
    assert fit_weights(differences, "auto", k=3).solver == "bt"
    fit = fit_weights(differences, "auto", k=1)
    assert fit.solver != "bt" and fit.cv_accuracy == cross_validated_accuracy(differences, fit.solver, k=1)
    np.testing.assert_array_equal(as_decoded(np.array([0.1, -0.9, 0.5]), 2), [0.0, -0.9, 0.5])


def test_top_k_picks_largest_magnitudes():
    assert top_k(np.array([0.1, -0.9, 0.5, 0.05]), 2).tolist() == [1, 2]


def contrast_data(n: int, seed: int) -> np.ndarray:
    """Attributes 0 and 1 share a large noise (as every system prompt moves both answers alike) and differ by
    a small always-positive signal; 2 and 3 are weak signals. Alone, 0 and 1 look like noise."""
    rng = np.random.default_rng(seed)
    shared = 3.0 * rng.normal(size=n)
    return np.stack([shared + 0.5 + 0.3 * rng.normal(size=n), shared + 0.3 * rng.normal(size=n),
                     0.2 + rng.normal(size=n), -0.2 + rng.normal(size=n)], axis=1)


def test_contrast_finds_a_rather_than_b_where_select_sees_noise():
    train, test = contrast_data(60, seed=0), contrast_data(400, seed=1)
    w = solve(train, "contrast", k=2)
    assert np.isclose(np.linalg.norm(w), 1.0) and np.count_nonzero(w) == 2
    np.testing.assert_allclose(w, [np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0])  # +w on 0, -w on 1: one contrast
    assert pairwise_accuracy(test, w) > 0.82  # the contrast's own ceiling: P(0.5 + N(0, 0.42) > 0) = 0.88
    assert pairwise_accuracy(test, select_top(train, 2)) < 0.7
    assert fit_weights(train, "contrast", k=2).cv_accuracy > 0.82  # what it ranks with is what steers


def test_contrast_keeps_at_most_k_attributes_and_can_take_single_ones():
    _, differences = synthetic(80, k=8, noise=2.0)
    for k in (1, 3, 7):
        w = contrast_select(differences, k)
        assert 0 < np.count_nonzero(w) <= k and np.isclose(np.linalg.norm(w), 1.0)
    # one attribute: no contrast fits, so it is select's single strongest attribute
    np.testing.assert_allclose(np.abs(contrast_select(differences, 1)), np.abs(select_top(differences, 1)))
