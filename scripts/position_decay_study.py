"""Weigh an answer's early tokens more: held-out accuracy when answer token t counts gamma**t (issue 12).

    PYTHONPATH=. .venv/bin/python scripts/position_decay_study.py ../shared/data/dsp/dsp_dev.json [seeds]

Pure numpy on the committed per-token chunks (docs/data/dsp_token_scores/), about 2 minutes with 40 seeds.
A decayed reward is still a sum of per-token log-ratios of the same attribute sequences, so the profile
steers decoding exactly as before; only which attributes it picks, and their weights, change.
`fit` is `profile fit`'s default (screening while scoring, then `select`), as in `eval prefs`.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS, PairFeatures, dsp_pairs, load_dsp, method_accuracy
from edge_drift.rewards import pair_jobs

CHUNKS = Path("docs/data/dsp_token_scores")
SIZES = (10, 25, 50, 100)
N_TEST = 100
MAX_TOKENS = 32


def chunk_rows(max_tokens: int = MAX_TOKENS, paths=None) -> dict[str, np.ndarray]:
    """Job key -> its first max_tokens per-token log-probs (NaN past an answer's end), from committed chunks."""
    rows: dict[str, np.ndarray] = {}
    for path in paths if paths is not None else sorted(CHUNKS.glob("q*-*.npz")):
        chunk = np.load(path)
        rows.update(zip(chunk["keys"].tolist(), chunk["logprobs"][:, :max_tokens].astype(np.float64)))
    return rows


@functools.lru_cache(maxsize=4)  # the studies ask for the same read several times per run (written, reverse)
def token_differences(data: str, max_tokens: int = MAX_TOKENS) -> dict[str, np.ndarray]:
    """Per user: (pairs, attributes, tokens) per-token reward differences, chosen minus rejected (0 past an end).

    Cached: callers must not modify the arrays."""
    rows = chunk_rows(max_tokens)
    attributes = load_attribute_set()
    systems = [attributes.base] + [a.prompt for a in attributes.attributes]
    queries = load_dsp(data)[:200]
    out = {}
    for user in DSP_DOMAINS:
        pairs = dsp_pairs(queries, user, seed=0)
        logprobs = np.array([[rows[job.key] for job in pair_jobs(p, systems)] for p in pairs])
        logprobs = np.nan_to_num(logprobs.reshape(len(pairs), len(systems), 2, max_tokens))
        rewards = logprobs[:, 1:] - logprobs[:, :1]
        out[user] = rewards[:, :, 0] - rewards[:, :, 1]
    return out


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
