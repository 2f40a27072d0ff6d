"""Does where in an answer a reward is earned carry signal? Bradley-Terry on per-band attribute rewards.

    PYTHONPATH=. .venv/bin/python research/studies/band_study.py ../shared/data/dsp/dsp_dev.json [seeds]

Reads the committed per-token chunks (research/data/dsp_token_scores/) and sums each job's log-probs over
token bands (e.g. 1-8, 9-16, 17-32); each band gives one reward per attribute, so a profile over bands
is a position-dependent weight per attribute (mixable at decoding: the weight in force depends on how
many tokens have been generated). Pure numpy, a minute.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge_drift.evaluation import DSP_DOMAINS
from edge_drift.solvers import bradley_terry, pairwise_accuracy

sys.path.insert(0, str(Path(__file__).parent.parent))  # research/: the studies' common module
from common import token_differences  # noqa: E402

SIZES = (10, 25, 50, 100)
N_TEST = 100


def main(data: str, seeds: int) -> None:
    bands = [(0, 8), (8, 16), (16, 32), (32, 64)]
    per_token = token_differences(data, max_tokens=64)
    diffs = {user: [per_token[user][:, :, start:stop].sum(axis=2) for start, stop in bands] for user in DSP_DOMAINS}
    variants = {
        "bt 1-8": lambda D: [D[0]],
        "bt 1-32 summed": lambda D: [D[0] + D[1] + D[2]],
        "bt 1-8 | 9-32": lambda D: [D[0], D[1] + D[2]],
        "bt 1-8 | 9-16 | 17-32": lambda D: [D[0], D[1], D[2]],
        "bt 1-8 | 9-32 | 33-64": lambda D: [D[0], D[1] + D[2], D[3]],
        "bt 1-8 | 1-32 (nested)": lambda D: [D[0], D[0] + D[1] + D[2]],
        "bt on (1-8) + 0.5 x (9-32), one band": lambda D: [D[0] + 0.5 * (D[1] + D[2])],
    }
    for l2 in (10.0, 30.0):
        for name, make in variants.items():
            cells = []
            for n in SIZES:
                acc = []
                for user in DSP_DOMAINS:
                    X = np.hstack(make(diffs[user]))
                    for seed in range(seeds):
                        order = np.random.default_rng(seed).permutation(len(X))
                        train, test = order[:n], order[len(X) - N_TEST:]
                        acc.append(pairwise_accuracy(X[test], bradley_terry(X[train], l2)))
                cells.append(f"{np.mean(acc):.3f}")
            print(f"| {name}, l2={l2:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
