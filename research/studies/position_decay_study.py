"""Weigh an answer's early tokens more: held-out accuracy when answer token t counts gamma**t (issue 12).

    PYTHONPATH=. .venv/bin/python research/studies/position_decay_study.py ../shared/data/dsp/dsp_dev.json [seeds]

Pure numpy on the committed per-token chunks (research/data/dsp_token_scores/), about 2 minutes with 40 seeds.
A decayed reward is still a sum of per-token log-ratios of the same attribute sequences, so the profile
steers decoding exactly as before; only which attributes it picks, and their weights, change.
`fit` is `profile fit`'s default (screening while scoring, then `select`), as in `eval prefs`.
"""
from __future__ import annotations

import sys

import numpy as np

from edge_drift.evaluation import DSP_DOMAINS, PairFeatures, method_accuracy
from common import N_TEST, SIZES, token_differences  # noqa: E402







def accuracies(differences: np.ndarray, method: str, seeds: int) -> list[float]:
    """Mean held-out accuracy at each training size for one user's (pairs, attributes) differences."""
    n = len(differences)
    features = PairFeatures(differences, np.zeros_like(differences), *(np.zeros(n) for _ in range(4)))
    result = []
    for size in SIZES:
        splits = (np.random.default_rng(seed).permutation(n) for seed in range(seeds))
        result.append(np.mean([method_accuracy(method, features, o[:size], o[n - N_TEST:]) for o in splits]))
    return result


def main(data: str, seeds: int) -> None:
    per_token = token_differences(data)
    schemes = {"flat, 8 tokens (before)": np.ones(8)}
    schemes.update({f"gamma {g}, 8 tokens": g ** np.arange(8.0) for g in (0.95, 0.9, 0.85, 0.8, 0.7, 0.5)})
    schemes.update({f"gamma {g}, 32 tokens": g ** np.arange(32.0) for g in (0.9, 0.8)})
    schemes["first 4 tokens x2, 8 tokens"] = np.array([2, 2, 2, 2, 1, 1, 1, 1.0])
    print(f"{seeds} seeds, {N_TEST} held-out pairs, mean of the 4 users; per user at n=50 for fit")
    print("| weights | method | n=10 | n=25 | n=50 | n=100 | " + " | ".join(f"{u[:4]}@50" for u in DSP_DOMAINS) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(DSP_DOMAINS))
    for name, weights in schemes.items():
        for method in ("fit", "select", "bt"):
            users = [accuracies(per_token[u][:, :, :len(weights)] @ weights, method, seeds) for u in DSP_DOMAINS]
            mean = np.mean(users, axis=0)
            at50 = " | ".join(f"{u[SIZES.index(50)]:.3f}" for u in users) if method == "fit" else " | ".join("" for _ in users)
            print(f"| {name} | {method} | " + " | ".join(f"{m:.3f}" for m in mean) + f" | {at50} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40)
