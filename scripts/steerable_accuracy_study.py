"""What a profile steers with: held-out accuracy of each solver's full weights and of the 7 that decoding mixes (issue 12).

    PYTHONPATH=. .venv/bin/python scripts/steerable_accuracy_study.py ../shared/data/dsp/dsp_dev.json [seeds]

A profile ranks answers with every weight it has, but `generate` mixes only its `top_k` (7) attributes with
the largest |weight| (`fitting.profile_from_differences` marks them selected), so a solver whose accuracy
comes from many small weights that cancel each other steers with much less than it ranks with. Pure numpy
on the committed per-token chunks (docs/data/dsp_token_scores/) at the 8-token cut-off (the default then), flat sums;
the same splits as `eval prefs` (seed s permutes a user's 200 pairs, trains on the first n, tests on the
last 100). About 8 minutes with 40 seeds (the sparse Bradley-Terry's L1 path takes most of it);
METHODS="fit,select,contrast select" (names up to their first " (") runs a subset.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS, default_fit_weights
from edge_drift.profile import DEFAULT_TOP_K
from edge_drift.solvers import as_decoded, fit_weights, pairwise_accuracy, rms_scale, solve, top_k

from position_decay_study import N_TEST, SIZES, token_differences

CUTOFF = 8
METHODS = ("fit", "select", "drift", "bt", "bt refit on its top 7", "sparse bt (L1 down to 7 weights)", "auto",
           "select among attributes with mean > 0", "contrast select (single attributes and a-rather-than-b pairs)")


def l1_bradley_terry(D: np.ndarray, l1: float, l2: float = 1.0) -> np.ndarray:
    """Bradley-Terry on RMS-scaled differences with an L1 penalty (w = u - v, u, v >= 0, L-BFGS-B)."""
    scale = rms_scale(D)
    X, k = D / scale, D.shape[1]

    def loss(uv: np.ndarray) -> tuple[float, np.ndarray]:
        w = uv[:k] - uv[k:]
        margin = X @ w
        grad = -X.T @ expit(-margin) + l2 * w
        return -log_expit(margin).sum() + 0.5 * l2 * w @ w + l1 * uv.sum(), np.concatenate([grad + l1, -grad + l1])

    uv = minimize(loss, np.zeros(2 * k), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * k)).x
    w = uv[:k] - uv[k:]
    w[np.abs(w) < 1e-6] = 0.0
    return w / scale


def sparse_bradley_terry(D: np.ndarray, k: int = DEFAULT_TOP_K, steps: int = 14) -> np.ndarray:
    """The L1 strength, by bisection, that leaves at most k non-zero weights (select's when none is left)."""
    low, high, best = 0.0, float(np.abs(D / rms_scale(D)).sum(axis=0).max()), None
    for _ in range(steps):
        strength = (low + high) / 2
        w = l1_bradley_terry(D, strength)
        if np.count_nonzero(w) > k:
            low = strength
        else:
            high, best = strength, w
    return best if best is not None and np.any(best) else solve(D, "select")


def weights_of(method: str, D: np.ndarray) -> np.ndarray:
    """The weights `profile fit` would store for these training differences (n_pairs, n_attributes)."""
    if method == "fit":  # the default: screening while scoring, then select on the attributes kept
        return default_fit_weights(D)
    if method == "auto":
        return fit_weights(D, "auto").weights
    if method == "contrast select (single attributes and a-rather-than-b pairs)":
        return solve(D, "contrast")
    if method.startswith("sparse bt"):
        return sparse_bradley_terry(D)
    if method == "select among attributes with mean > 0":  # a profile that only steers toward styles
        t = D.mean(axis=0) / np.maximum(D.std(axis=0), 1e-12)
        toward = np.flatnonzero(t > 0)
        if len(toward) == 0:
            return np.zeros(D.shape[1])  # nothing to steer toward: every pair ties
        keep = toward[np.argsort(-t[toward], kind="stable")[:DEFAULT_TOP_K]]
        weights = np.zeros(D.shape[1])
        weights[keep] = solve(D[:, keep], "drift")
        return weights
    if method == "bt refit on its top 7":  # keep bt's 7 largest, then fit bt again on those alone
        keep = top_k(solve(D, "bt"), DEFAULT_TOP_K)
        weights = np.zeros(D.shape[1])
        weights[keep] = solve(D[:, keep], "bt")
        return weights
    return solve(D, method)


def print_signs(differences: dict[str, np.ndarray], n_pairs: int = 50) -> None:
    names = load_attribute_set().names
    print(f"| user | default fit on the first {n_pairs} pairs (weights) | attributes with mean difference > 0 | "
          f"largest t = mean / std |")
    print("|---|---|---|---|")
    for user, D in differences.items():
        train = D[:n_pairs]
        weights = weights_of("fit", train)
        t = train.mean(axis=0) / np.maximum(train.std(axis=0), 1e-12)
        best = int(np.argmax(t))
        fitted = ", ".join(f"{names[i]} {weights[i]:+.2f}" for i in np.flatnonzero(weights))
        print(f"| {user} | {fitted} | {int((t > 0).sum())} of {len(t)} | {names[best]} {t[best]:+.2f} |")


def main() -> None:
    data = sys.argv[1]
    differences = {user: D[:, :, :CUTOFF].sum(axis=2) for user, D in token_differences(data, CUTOFF).items()}
    if len(sys.argv) > 2 and sys.argv[2] == "signs":
        print_signs(differences)
        return
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    print(f"mean of {len(DSP_DOMAINS)} users, {seeds} seeds, {N_TEST} held-out pairs, {CUTOFF}-token answers: "
          f"accuracy with all weights / with the {DEFAULT_TOP_K} decoding mixes\n")
    print("| method | " + " | ".join(f"n={n}" for n in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    chosen = os.environ.get("METHODS")  # e.g. METHODS="fit,select": a subset, by name, comma-separated
    for method in METHODS if not chosen else [m for m in METHODS if m.split(" (")[0] in chosen.split(",")]:
        cells = []
        for size in SIZES:
            full, decoded = [], []
            for D in differences.values():
                n = len(D)
                for seed in range(seeds):
                    order = np.random.default_rng(seed).permutation(n)
                    train, test = order[:size], order[n - N_TEST:]
                    weights = weights_of(method, D[train])
                    full.append(pairwise_accuracy(D[test], weights))
                    decoded.append(pairwise_accuracy(D[test], as_decoded(weights, DEFAULT_TOP_K)))
            cells.append(f"{np.mean(full):.3f} / {np.mean(decoded):.3f}")
        print(f"| {method} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
