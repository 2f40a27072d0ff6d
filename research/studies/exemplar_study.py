"""Issue 12: does an *exemplar* attribute (a system prompt quoting a few of the user's chosen answers) help?

    python research/studies/exemplar_study.py ../shared/data/dsp/dsp_dev.json out/dsp_eval/cache.json [n_exemplars] [seeds]

Scores, into the same eval-prefs cache, each DSP user's exemplar prompt against every answer of the
queries after the exemplar ones (the exemplars are the user's chosen answers to the first
n_exemplars queries), then compares methods with and without that feature. Fair protocol: the
exemplar pairs are always part of the training pairs (the user gave them) and never scored nor tested.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_drift.attributes import Attribute, AttributeSet, load_attribute_set
from edge_drift.engine import Engine
from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp, pair_features, query_jobs
from edge_drift.files import atomic_write
from edge_drift.rewards import LogProbCache, score_job_groups
from common import exemplar_prompt  # noqa: E402


def main() -> None:
    data, cache_path = sys.argv[1], sys.argv[2]
    n_exemplars = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    seeds = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    n_queries = 100
    cache = LogProbCache.from_dict(json.loads(open(cache_path).read()))
    queries = load_dsp(data)[:n_queries]
    attributes = load_attribute_set(registers=False)
    engine = Engine(None)
    per_user = {}
    for user in DSP_DOMAINS:
        prompt = exemplar_prompt(attributes.base, [q.responses[user] for q in queries[:n_exemplars]])
        extended = AttributeSet(attributes.base, attributes.attributes + (Attribute("exemplars", prompt),))
        only_new = AttributeSet(attributes.base, (Attribute("exemplars", prompt),))
        start = time.perf_counter()
        stats = score_job_groups(engine, [[j for j in query_jobs(q, only_new) if j.system == prompt]
                                          for q in queries[n_exemplars:]], cache)
        atomic_write(Path(cache_path), json.dumps(cache.to_dict()))
        print(f"{user}: scored {stats.jobs_scored} jobs, {stats.tokens_scored} tokens in {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
        pairs = dsp_pairs(queries, user, seed=0)[n_exemplars:]
        per_user[user] = pair_features(pairs, extended, cache)
    evaluate(per_user, n_exemplars, seeds)


def evaluate(per_user, n_exemplars: int, seeds: int) -> None:
    from solver_study import STUDY_METHODS  # the same estimators as the solver study

    sizes = (10, 25, 50)
    rows = {}
    for user, f in per_user.items():
        D_all = f.chosen - f.rejected
        n = len(D_all)
        n_test = 100 - max(sizes)
        for name, fit in STUDY_METHODS.items():
            for variant, D in (("41", D_all[:, :-1]), ("41+ex", D_all), ("ex", D_all[:, -1:])):
                for size in sizes:
                    accuracies = []
                    for seed in range(seeds):
                        order = np.random.default_rng(seed).permutation(n)
                        train, test = order[:size - n_exemplars], order[n - n_test:]
                        w = fit(D[train], np.zeros((len(train), 1)))[:D.shape[1]]
                        m = D[test] @ w
                        accuracies.append(float(np.mean((m > 0) + 0.5 * (m == 0))))
                    rows[(name, variant, size, user)] = np.mean(accuracies)
    print("| method | features | " + " | ".join(f"n={s}" for s in sizes) + " | " +
          " | ".join(f"{u[:4]}@50" for u in per_user) + " |")
    for name in STUDY_METHODS:
        for variant in ("41", "41+ex", "ex"):
            means = [np.mean([rows[(name, variant, s, u)] for u in per_user]) for s in sizes]
            print(f"| {name} | {variant} | " + " | ".join(f"{m:.3f}" for m in means) + " | " +
                  " | ".join(f"{rows[(name, variant, 50, u)]:.3f}" for u in per_user) + " |")


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main()
