"""What a profile steers with: held-out accuracy of each solver's full weights and of the 7 that decoding mixes (issue 12).

    PYTHONPATH=. .venv/bin/python research/studies/steerable_accuracy_study.py ../shared/data/dsp/dsp_dev.json [seeds]

A profile ranks answers with every weight it has, but `generate` mixes only its `top_k` (7) attributes with
the largest |weight| (`fitting.profile_from_differences` marks them selected), so a solver whose accuracy
comes from many small weights that cancel each other steers with much less than it ranks with. Pure numpy
on the committed per-token chunks (research/data/dsp_token_scores/) at the 8-token cut-off (the default then), flat sums;
the same splits as `eval prefs` (seed s permutes a user's 200 pairs, trains on the first n, tests on the
last 100). About 8 minutes with 40 seeds (the sparse Bradley-Terry's L1 path takes most of it);
METHODS="fit,select,contrast select" (names up to their first " (") runs a subset.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS
from edge_drift.profile import DEFAULT_TOP_K
from edge_drift.solvers import as_decoded, pairwise_accuracy

from common import N_TEST, SIZES, token_differences, weights_of  # noqa: E402

CUTOFF = 8
METHODS = ("fit", "select", "drift", "bt", "bt refit on its top 7", "sparse bt (L1 down to 7 weights)", "auto",
           "select among attributes with mean > 0", "contrast select (single attributes and a-rather-than-b pairs)")








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
