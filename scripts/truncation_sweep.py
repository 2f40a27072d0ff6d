"""Measure the --max-response-tokens trade-off on DSP: accuracy and scoring cost per cut-off.

One scoring pass at the longest cut-off yields every shorter one: a causal model's log-prob of
an answer's first T tokens does not depend on the tokens after them, so the summed log-prob at
cut-off T is the sum of the first T per-token log-probs scored at the longest cut-off.

Usage: python scripts/truncation_sweep.py DSP_JSON OUT_JSON QUERIES N_TEST ATTRIBUTES CUTOFFS
QUERIES is a count (the first N) or a slice START:STOP of the DSP queries, e.g.
       python scripts/truncation_sweep.py ../shared/data/dsp/dsp_dev.json out/truncation.json \
           0:60 30 concise,direct,analytic 16,32,64,128
"""
import json
import sys
import time

import numpy as np

from edge_drift.attributes import load_attribute_set
from edge_drift.engine import Engine
from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, learning_curves, load_dsp, pair_features, query_jobs
from edge_drift.rewards import SCORING_SEQUENCES, LogProbCache, tokenize_job

TRAIN_SIZES = (10, 25, 50)
SEEDS = 5


def main() -> None:
    data, out_path = sys.argv[1], sys.argv[2]
    start_stop = [int(x) for x in sys.argv[3].split(":")] if ":" in sys.argv[3] else [0, int(sys.argv[3])]
    n_test = int(sys.argv[4])
    attributes = load_attribute_set(registers=False)
    if sys.argv[5] != "all":
        attributes = attributes.select(sys.argv[5].split(","))
    cutoffs = sorted(int(t) for t in sys.argv[6].split(","))
    longest = cutoffs[-1]
    queries = load_dsp(data)[start_stop[0]:start_stop[1]]
    engine = Engine("default")
    caches = {t: LogProbCache(engine.identity.sha256, t) for t in cutoffs}
    evaluated = dict.fromkeys(cutoffs, 0)  # tokens llama.cpp evaluates: each prefix once + every answer
    start = time.perf_counter()
    with engine.context(SCORING_SEQUENCES, 1024) as ctx:
        for done, query in enumerate(queries, 1):
            jobs = query_jobs(query, attributes)
            items = [tokenize_job(engine, job, longest) for job in jobs]
            for job, scores in zip(jobs, ctx.score(items)):
                for t in cutoffs:
                    caches[t].entries[job.key] = float(scores[:t].sum())
            prefixes = {tuple(prefix) for prefix, _ in items}
            for t in cutoffs:
                evaluated[t] += sum(map(len, prefixes)) + sum(min(len(answer), t) for _, answer in items)
            print(f"{done}/{len(queries)} queries, {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    rows = []
    for t in cutoffs:
        accuracy = {size: [] for size in TRAIN_SIZES}
        for user in DSP_DOMAINS:
            features = pair_features(dsp_pairs(queries, user, seed=0), attributes, caches[t])
            for r in learning_curves(user, features, TRAIN_SIZES, n_test, SEEDS):
                if r["method"] == "drift":
                    accuracy[r["n_train"]].append(r["accuracy_mean"])
        rows.append({"max_response_tokens": t, "tokens_evaluated": evaluated[t],
                     "relative_cost": evaluated[t] / evaluated[longest],
                     "drift_accuracy": {str(size): float(np.mean(a)) for size, a in accuracy.items() if a},
                     "drift_accuracy_per_user": {str(size): a for size, a in accuracy.items() if a}})
    report = {"queries": sys.argv[3], "n_test": n_test, "seeds": SEEDS, "attributes": len(attributes.attributes),
              "seconds_at_longest": seconds, "rows": rows}
    with open(out_path, "w") as f:
        json.dump(report, f, indent=2)
    sizes = [s for s in TRAIN_SIZES if str(s) in rows[0]["drift_accuracy"]]
    print("| max response tokens | tokens evaluated | cost vs longest | " +
          " | ".join(f"drift n={s}" for s in sizes) + " |")
    print("|---|---|---|" + "---|" * len(sizes))
    for row in rows:
        cells = " | ".join(f"{row['drift_accuracy'][str(s)]:.3f}" for s in sizes)
        print(f"| {row['max_response_tokens']} | {row['tokens_evaluated']:,} | {row['relative_cost']:.2f} | {cells} |")

if __name__ == "__main__":
    main()
