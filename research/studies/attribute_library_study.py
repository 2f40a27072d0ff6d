"""Issue 12: do writing registers the Drift paper's 41 attributes lack help the profile rank DSP pairs?

    python research/studies/attribute_library_study.py ../shared/data/dsp/dsp_dev.json out/dsp_eval/cache.json [seeds] [wordings.json]

Scores each of the 7 registers shipped next to the 41 (edge_drift/data/attributes.json, "registers":
poetic, scholarly, professional, playful, structured, conversational, detailed; system prompts in the
paper's own style, same base prompt) against
every answer of the first 200 DSP dev queries into the eval-prefs cache (about 1.1 s per query and
attribute on 2 cores; cached cells are skipped, so a rerun costs seconds), then prints JSON lines:
each register's accuracy alone on all 200 pairs of every user (below 0.5: the user prefers less of it),
and the eval-prefs learning curves of select / bt / drift / fit with the paper's 41 and with all 48.

With a wordings file ({"name": "system prompt", ...}) the candidates are those instead of the shipped
registers, and the curves compare the 41 + shipped registers ("48") with the 41 + these ("41+wordings")
and with all of them ("48+wordings"): how much of the registers' gain depends on the one wording each
was given, or what other added attributes (opposites, say) bring.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_drift.attributes import Attribute, AttributeSet, load_attribute_set
from edge_drift.engine import Engine
from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, learning_curves, load_dsp, pair_features, query_jobs
from edge_drift.files import atomic_write
from edge_drift.rewards import LogProbCache, score_job_groups

N_QUERIES = 200
METHODS = ("select", "bt", "drift", "fit")


def main() -> None:
    data, cache_path = sys.argv[1], sys.argv[2]
    seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    cache = LogProbCache.from_dict(json.loads(open(cache_path).read()))
    queries = load_dsp(data)[:N_QUERIES]
    paper, extended = load_attribute_set(registers=False), load_attribute_set()
    candidates = AttributeSet(paper.base, extended.attributes[len(paper.attributes):])
    sets = {"41": paper, "48": extended}
    if len(sys.argv) > 4:  # other wordings of the registers, compared with the shipped ones
        wordings = json.loads(Path(sys.argv[4]).read_text())
        candidates = AttributeSet(paper.base, tuple(Attribute(n, p) for n, p in wordings.items()))
        sets = {"48": extended, "41+wordings": AttributeSet(paper.base, paper.attributes + candidates.attributes),
                "48+wordings": AttributeSet(paper.base, extended.attributes + candidates.attributes)}

    start = time.perf_counter()
    with Engine(None) as engine:  # closed before the numpy study, which needs no model
        for index in range(0, len(queries), 10):  # checkpoint every 10 queries: a stopped run keeps its work
            score_job_groups(engine, [query_jobs(q, candidates) for q in queries[index:index + 10]], cache)
            atomic_write(Path(cache_path), json.dumps(cache.to_dict()))
            print(json.dumps({"scored_queries": index + 10, "seconds": round(time.perf_counter() - start, 1)}),
                  file=sys.stderr, flush=True)

    for user in DSP_DOMAINS:
        pairs = dsp_pairs(queries, user, seed=0)
        alone = pair_features(pairs, candidates, cache)
        differences = alone.chosen - alone.rejected
        print(json.dumps({"user": user, "alone": {n: round(float(np.mean(differences[:, i] > 0)), 3)
                                                  for i, n in enumerate(candidates.names)}}), flush=True)
        for label, attributes in sets.items():
            features = pair_features(pairs, attributes, cache)
            for row in learning_curves(user, features, [10, 25, 50, 100], 100, seeds):
                if row["method"] in METHODS:
                    print(json.dumps({"set": label, **row}), flush=True)


if __name__ == "__main__":
    main()
