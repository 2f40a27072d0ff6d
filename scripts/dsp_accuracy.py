"""Held-out pairwise accuracy on DSP from the cache written by scripts/dsp_score.py.

Usage: python scripts/dsp_accuracy.py DSP_JSON CACHE_JSON N_QUERIES N_TEST SEEDS TRAIN_SIZES
e.g.   python scripts/dsp_accuracy.py ../shared/data/dsp/dsp_dev.json out/dsp_cache_64.json 90 40 5 10,25,50
"""
import json
import sys
from pathlib import Path

import numpy as np

from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS, dsp_accuracy, load_dsp
from edge_drift.rewards import LogProbCache


def main() -> None:
    data, cache_path = sys.argv[1], Path(sys.argv[2])
    n_queries, n_test, seeds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    sizes = [int(x) for x in sys.argv[6].split(",")]
    cache = LogProbCache.from_dict(json.loads(cache_path.read_text()))
    attributes = load_attribute_set()
    queries = load_dsp(data)[:n_queries]
    results = []
    print("| user | solver | " + " | ".join(f"n={n}" for n in sizes) + " |")
    print("|---|---|" + "---|" * len(sizes))
    for solver in ("drift", "bt"):
        for user in DSP_DOMAINS:
            cells = []
            for n in sizes:
                accs = [dsp_accuracy(queries, attributes, cache, user, n, n_test, seed, solver) for seed in range(seeds)]
                results.append({"user": user, "solver": solver, "n_train": n, "accuracy_mean": float(np.mean(accs)),
                                "accuracy_std": float(np.std(accs)), "n_test": n_test, "seeds": seeds})
                cells.append(f"{np.mean(accs):.3f} ± {np.std(accs):.3f}")
            print(f"| {user} | {solver} | " + " | ".join(cells) + " |")
        for n in sizes:
            mean = np.mean([r["accuracy_mean"] for r in results if r["solver"] == solver and r["n_train"] == n])
            print(f"| **mean** | {solver} | n={n}: {mean:.3f} |")
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
