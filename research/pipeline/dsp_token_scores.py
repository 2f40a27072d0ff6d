"""Per-token DSP log-probs up to 64 answer tokens, in committed chunks, so any cut-off can be re-read later.

    PYTHONPATH=. .venv/bin/python research/pipeline/dsp_token_scores.py ../shared/data/dsp/dsp_dev.json START:STOP [OUT_DIR]
    PYTHONPATH=. .venv/bin/python research/pipeline/dsp_token_scores.py --check ../shared/data/dsp/dsp_dev.json [OUT_DIR]
    PYTHONPATH=. .venv/bin/python research/pipeline/dsp_token_scores.py --study ../shared/data/dsp/dsp_dev.json [OUT_DIR]
    PYTHONPATH=. .venv/bin/python research/pipeline/dsp_token_scores.py --cache T CACHE.json [OUT_DIR]

Issue 12's "cost of the research": the committed cache (research/data/dsp_scores_32tok.json.gz) keeps each
(system prompt, query, answer) log-prob summed at 32 tokens, so a shorter or longer cut-off needs a new
scoring pass. This scores the default attribute set (the base prompt + the 48 attributes) on DSP
queries START:STOP at 64 tokens and keeps every token's log-prob, one compressed file per chunk
(OUT_DIR, default research/data/dsp_token_scores/, `qSTART-STOP.npz`): `keys` (the cache key of each job,
which names its system prompt, query and answer), `logprobs` (jobs x 64, float16, NaN past an answer's
end) and the model's sha256. A causal model's log-prob of an answer's first T tokens does not depend on
what follows, so summing the first T columns gives the cut-off-T reward exactly as a T-token pass would
(checked on query 0: the 64-token pass summed at 32 equals a 32-token pass exactly; float16 storage
moves a 32-token sum by at most 0.017 nats). About 32 s per query on a 2-core AMD EPYC (450 prompt
tokens/s); chunks of 10 queries are a convenient unit of work. `--check` compares the stored chunks'
32-token sums with the committed 32-token cache: scored on another machine's CPU kernels, query 0
differs by 0.004 nats on average and 0.44 at most, which is the machines' arithmetic, not truncation.
`--cache T` writes the stored jobs summed at T tokens as a rewards cache that `eval prefs --out DIR`
(DIR/cache.json) and `eval generate --cache` reuse at `--max-response-tokens T` (the default attribute
set only, on the scored queries; 1.8 MB for all 200).
"""
from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

MAX_TOKENS = 64
DEFAULT_OUT = Path("research/data/dsp_token_scores")


def score_chunk(data: str, start: int, stop: int, out_dir: Path) -> Path:
    from edge_drift.attributes import load_attribute_set
    from edge_drift.engine import Engine
    from edge_drift.evaluation import load_dsp, query_jobs
    from edge_drift.rewards import SCORING_SEQUENCES, tokenize_job

    queries = load_dsp(data)[start:stop]
    attributes = load_attribute_set()
    engine = Engine("default")
    keys, rows = [], []
    began = time.perf_counter()
    with engine.context(SCORING_SEQUENCES, 1024) as ctx:
        for done, query in enumerate(queries, 1):
            jobs = query_jobs(query, attributes)
            items = [tokenize_job(engine, job, MAX_TOKENS) for job in jobs]
            for job, scores in zip(jobs, ctx.score(items)):
                row = np.full(MAX_TOKENS, np.nan, dtype=np.float32)
                row[:len(scores)] = scores
                keys.append(job.key)
                rows.append(row)
            print(f"queries {start + done}/{stop}: {time.perf_counter() - began:.0f}s", file=sys.stderr, flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"q{start}-{stop}.npz"
    np.savez_compressed(path, keys=np.array(keys), logprobs=np.array(rows, dtype=np.float16),
                        slm_sha256=np.array(engine.identity.sha256))
    return path


def summed(out_dir: Path, cutoff: int, decay: float = 1.0) -> dict[str, float]:
    """Every stored job's log-prob summed over its first `cutoff` tokens, token t (from 0) weighted
    decay**t: a LogProbCache's entries."""
    entries: dict[str, float] = {}
    weights = decay ** np.arange(cutoff, dtype=np.float64)
    for path in sorted(out_dir.glob("q*-*.npz")):
        chunk = np.load(path)
        logprobs = chunk["logprobs"][:, :cutoff].astype(np.float64)
        sums = np.nansum(logprobs if decay == 1.0 else logprobs * weights[:logprobs.shape[1]], axis=1)
        entries.update(zip(chunk["keys"].tolist(), sums.tolist()))
    return entries


def cache_at(out_dir: Path, cutoff: int, decay: float = 1.0):
    """The stored jobs summed at `cutoff` tokens, as the rewards cache a `cutoff`-token pass would fill."""
    from edge_drift.rewards import LogProbCache

    sha256 = str(np.load(sorted(out_dir.glob("q*-*.npz"))[0])["slm_sha256"])
    return LogProbCache(sha256, cutoff, summed(out_dir, cutoff, decay), decay)


def check(out_dir: Path, committed: str = "research/data/dsp_scores_32tok.json.gz") -> None:
    with gzip.open(committed, "rt") as f:
        reference = json.load(f)["entries"]
    ours = summed(out_dir, 32)
    shared = [k for k in ours if k in reference]
    difference = np.array([abs(ours[k] - reference[k]) for k in shared])
    print(json.dumps({"jobs": len(ours), "in_committed_cache": len(shared),
                      "max_abs_difference": float(difference.max()) if len(shared) else None,
                      "mean_abs_difference": float(difference.mean()) if len(shared) else None}))


CUTOFFS = (8, 12, 16, 24, 32, 48, 64)
TRAIN_SIZES = (10, 25, 50, 100)
STUDY_METHODS = ("fit", "select", "drift")  # "fit" is `profile fit`'s default: screening, then select
SEEDS = 40


def study(data: str, out_dir: Path) -> None:
    """Held-out accuracy at each cut-off on the scored queries, by `eval prefs`'s own method_accuracy.

    Every query of the stored chunks gives each user one pair; the test pairs are the last
    n - (largest training size that leaves half the pairs for testing) of each seeded permutation, the
    same for every cut-off and method, so the cut-offs compare pair for pair.
    """
    from edge_drift.attributes import load_attribute_set
    from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp, method_accuracy, pair_features

    chunks = [np.load(path) for path in sorted(out_dir.glob("q*-*.npz"))]
    attributes = load_attribute_set()
    jobs_per_query = len(DSP_DOMAINS) * (len(attributes.attributes) + 1)  # every answer under base + each attribute
    n_queries = sum(len(c["keys"]) for c in chunks) // jobs_per_query
    queries = load_dsp(data)[:n_queries]
    sizes = [n for n in TRAIN_SIZES if 2 * n <= n_queries]
    n_test = n_queries - max(sizes)
    lengths = np.concatenate([np.isfinite(c["logprobs"]).sum(axis=1) for c in chunks])
    print(f"{n_queries} queries; test pairs per split: {n_test}; seeds: {SEEDS}; mean of the {len(DSP_DOMAINS)} users")
    print("| cut-off | answer tokens vs 32 | " + " | ".join(f"{m} n={n}" for m in STUDY_METHODS for n in sizes) + " |")
    print("|---|---|" + "---|" * (len(STUDY_METHODS) * len(sizes)))
    for cutoff in CUTOFFS:
        cache = cache_at(out_dir, cutoff)
        features = [pair_features(dsp_pairs(queries, user, seed=0), attributes, cache) for user in DSP_DOMAINS]
        cells = []
        for method in STUDY_METHODS:
            for size in sizes:
                accuracy = []
                for user_features in features:
                    for seed in range(SEEDS):
                        order = np.random.default_rng(seed).permutation(n_queries)
                        accuracy.append(method_accuracy(method, user_features, order[:size], order[n_queries - n_test:]))
                cells.append(f"{np.mean(accuracy):.3f}")
        cost = np.minimum(lengths, cutoff).sum() / np.minimum(lengths, 32).sum()
        print(f"| {cutoff} | {cost:.2f} | " + " | ".join(cells) + " |", flush=True)


def write_cache(cutoff: int, path: Path, out_dir: Path, decay: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cache_at(out_dir, cutoff, decay).to_dict()))
    print(path)


def main(argv: list[str]) -> None:
    if argv[0] == "--cache":  # --cache T CACHE.json [OUT_DIR] [DECAY]
        out_dir = Path(argv[3]) if len(argv) > 3 else DEFAULT_OUT
        write_cache(int(argv[1]), Path(argv[2]), out_dir, float(argv[4]) if len(argv) > 4 else 1.0)
        return
    if argv[0] in ("--check", "--study"):
        out_dir = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
        check(out_dir) if argv[0] == "--check" else study(argv[1], out_dir)
        return
    start, stop = (int(x) for x in argv[1].split(":"))
    print(score_chunk(argv[0], start, stop, Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT))


if __name__ == "__main__":
    main(sys.argv[1:])
