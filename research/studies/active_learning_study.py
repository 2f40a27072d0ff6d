"""Which question to ask: pool-based active learning of a profile on the committed DSP scores (no generation).

Each round the learner picks one pair from a pool of unlabelled DSP pairs (the user's domain answer vs another
domain's, to a training query; the learner does not know which is which), the user's domain answers it, and the
profile is refitted the product's way (`fitting.replayed_weights`: screening, then `select`). Held-out accuracy on
the test queries' pairs is recorded after 3/5/10/15/25/50 votes. Rules: `common.RULES` (BALD is what the product asks with, `edge_drift.questions`).

Usage: PYTHONPATH=.:research .venv/bin/python research/studies/active_learning_study.py DSP_DEV.json [SEEDS] [OUT.json]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from common import N_TEST_QUERIES, RULES, answer_rewards, choose_pair, user_pairs
from edge_drift.evaluation import DSP_DOMAINS
from edge_drift.fitting import replayed_weights
from edge_drift.questions import laplace_posterior
from edge_drift.solvers import pairwise_accuracy, rms_scale

CHECKPOINTS = (3, 5, 10, 15, 25, 50)


def simulate(R: np.ndarray, user: int, rule: str, seed: int, votes: int = max(CHECKPOINTS)) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(R.shape[0])
    test, pool = user_pairs(R, user, order[:N_TEST_QUERIES]), user_pairs(R, user, order[N_TEST_QUERIES:])
    scale = rms_scale(pool)  # known before any vote: every candidate's rewards are scored
    remaining, labelled, accuracy = list(range(len(pool))), [], {}
    weights = None
    for n in range(1, votes + 1):
        posterior = laplace_posterior(pool[labelled], scale)
        pick = choose_pair(rule, pool[remaining], posterior, weights, rng)
        labelled.append(remaining.pop(pick))
        weights = replayed_weights(pool[labelled])
        if n in CHECKPOINTS:
            accuracy[n] = pairwise_accuracy(test, weights)
    return accuracy


def main() -> None:
    data = sys.argv[1]
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    R = answer_rewards(data)
    results = {}
    for rule in RULES:
        began = time.perf_counter()
        # per seed, the mean over the 4 users: the intervals are over seeds
        runs = np.array([[[simulate(R, u, rule, seed)[n] for n in CHECKPOINTS] for u in range(len(DSP_DOMAINS))]
                         for seed in range(seeds)])
        per_seed = runs.mean(axis=1)
        results[rule] = {"mean": per_seed.mean(axis=0).tolist(),
                         "ci95": (1.96 * per_seed.std(axis=0, ddof=1) / np.sqrt(seeds)).tolist(),
                         "per_user": runs.mean(axis=0).tolist()}
        print(f"{rule:<9} " + "  ".join(f"{n}:{m:.3f}±{c:.3f}" for n, m, c in
                                       zip(CHECKPOINTS, results[rule]["mean"], results[rule]["ci95"]))
              + f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    print("\n| rule | " + " | ".join(f"{n} votes" for n in CHECKPOINTS) + " |")
    print("|---|" + "---|" * len(CHECKPOINTS))
    for rule, r in results.items():
        print(f"| {rule} | " + " | ".join(f"{m:.3f} ± {c:.3f}" for m, c in zip(r["mean"], r["ci95"])) + " |")
    if out:
        out.write_text(json.dumps({"checkpoints": CHECKPOINTS, "seeds": seeds, "users": DSP_DOMAINS,
                                   "results": results}, indent=1))


if __name__ == "__main__":
    main()
