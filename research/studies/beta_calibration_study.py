"""Issue 12, per-user beta: how strongly do a user's own choices say to steer?

    REGISTERS=1 PYTHONPATH=. .venv/bin/python research/studies/beta_calibration_study.py   # seconds, from the committed scores

A profile's margin m = D @ w (reward differences of its `select` weights) predicts a choice as
sigmoid(s * m) in the Bradley-Terry model; s, fitted by maximum likelihood on the training pairs, is the
scale at which the user's choices trust the profile's reward. Drift's KL-regularised optimum then adds
s * sum_i w_i (h_i - h_0) to the logits, i.e. beta = 1 / s. Prints s and 1/s on the first n pairs of each
DSP user, and s on pairs 100-199 (held out), next to the shipped default beta.
Needs out/dsp_eval/cache.json (gunzip -c research/data/dsp_scores_32tok.json.gz > out/dsp_eval/cache.json).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

sys.path.insert(0, str(Path(__file__).parent.parent))  # research/: the studies' common module

import common  # noqa: E402  (the committed scores, read as in the other studies)
from edge_drift import solvers  # noqa: E402
from edge_drift.profile import DEFAULT_BETA, DEFAULT_TOP_K  # noqa: E402

SIZES = (10, 25, 50, 100)


def choice_scale(margins: np.ndarray) -> float:
    """The s >= 0 that maximises sum log sigmoid(s * m): how far the user's choices follow the margins."""
    return minimize_scalar(lambda s: np.sum(np.logaddexp(0, -s * margins)), bounds=(0, 100), method="bounded").x


def main(data: str, cache: str) -> None:
    print(f"default beta {DEFAULT_BETA}; cells: s on the first n pairs (beta = 1/s) | s on pairs 100-199")
    for user, features in common.dsp_features(data, cache).items():
        D = features.chosen - features.rejected
        cells = []
        for n in SIZES:
            w = solvers.select_top(D[:n], DEFAULT_TOP_K)
            s_train, s_test = choice_scale(D[:n] @ w), choice_scale(D[100:] @ w)
            cells.append(f"n={n}: {s_train:.3f} ({1 / s_train:.2f}) | {s_test:.3f}")
        print(f"{user}: " + "; ".join(cells))


if __name__ == "__main__":
    main(*(sys.argv[1:3] or ["../shared/data/dsp/dsp_dev.json", "out/dsp_eval/cache.json"]))
