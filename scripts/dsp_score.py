"""Precompute (and checkpoint) the DSP response log-probs every DSP figure in docs/ reuses.

Usage: python scripts/dsp_score.py DSP_JSON CACHE_JSON N_QUERIES MAX_RESPONSE_TOKENS
"""
import json
import os
import sys
import time
from pathlib import Path

from edge_drift.attributes import load_attribute_set
from edge_drift.engine import Engine
from edge_drift.evaluation import load_dsp, score_queries
from edge_drift.rewards import LogProbCache


def main() -> None:
    data, cache_path, n_queries, max_tokens = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    queries = load_dsp(data)[:n_queries]
    attributes = load_attribute_set()
    engine = Engine("default")
    cache = None
    if cache_path.is_file():
        cache = LogProbCache.from_dict(json.loads(cache_path.read_text()))
    if cache is None or not cache.compatible(engine.identity.sha256, max_tokens):
        cache = LogProbCache(engine.identity.sha256, max_tokens)

    def checkpoint() -> None:
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache.to_dict()))
        os.replace(tmp, cache_path)

    done = [0]
    start = time.time()

    def progress(n: int) -> None:
        done[0] += n
        print(f"{done[0]}/{len(queries)} queries, {time.time() - start:.0f}s", flush=True)

    score_queries(engine, queries, attributes, cache, progress, checkpoint)


if __name__ == "__main__":
    main()
