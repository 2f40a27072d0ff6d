"""Where a cold profile fit spends its time: llama_decode against the same-rows ceiling, and the rest (issue 13).

    PYTHONPATH=. .venv/bin/python research/studies/profile_fit.py ../shared/data/dsp/dsp_dev.json [n_pairs]

Fits `bench fit`'s DSP academy pairs with the defaults under cProfile, with a timer around every
llama_decode, and prints the decode rate next to the fastest rate the fit's mix of prompt tokens and
logit rows allows (prompt-eval speed for the first, all-logits speed for the second), overall and per
kind of call (prefix decodes, answer decodes, system blocks, small waves).
"""
from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from edge_drift import bench, contexts
from edge_drift.attributes import load_attribute_set
from edge_drift.engine import Engine
from edge_drift.evaluation import user_pairs
from edge_drift.fitting import fit_profile
from edge_drift.store import ProfileStore


def main() -> None:
    data, n_pairs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50
    engine = Engine()
    _, pairs = user_pairs(Path(data), "dsp", "academy")
    pairs = [p for p in pairs if p.chosen.strip() != p.rejected.strip()][:n_pairs]  # as `bench fit`
    prompt_eval, all_logits = bench.raw_prompt_eval_rate(engine), bench.all_logits_eval_rate(engine)
    decode_seconds = []
    calls: dict[str, list[tuple[int, int, float]]] = defaultdict(list)  # kind -> (tokens, rows, seconds)
    decode = contexts.MultiSequenceContext._decode_batch

    def timed_decode(self) -> None:
        n_tokens = int(self.batch.batch.n_tokens)
        n_rows = int(self.batch.logit_flags[:n_tokens].sum())
        start = time.perf_counter()
        decode(self)
        decode_seconds.append(time.perf_counter() - start)
        calls[call_kind(n_tokens, n_rows)].append((n_tokens, n_rows, decode_seconds[-1]))

    contexts.MultiSequenceContext._decode_batch = timed_decode
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        profiler.enable()
        stats = fit_profile(engine, ProfileStore(folder), "p", pairs, attributes=load_attribute_set()).stats
        profiler.disable()
        total = time.perf_counter() - start
    share = stats.logit_rows / stats.tokens_evaluated
    ceiling = 1 / ((1 - share) / prompt_eval + share / all_logits)
    in_decode = sum(decode_seconds)
    print(f"{len(pairs)} pairs: {total:.1f} s, {in_decode:.1f} s in {len(decode_seconds)} llama_decode calls, "
          f"{stats.tokens_evaluated} tokens ({share:.0%} with a logit row)")
    print(f"prompt eval {prompt_eval:.0f}/s, all-logits eval {all_logits:.0f}/s, same-rows ceiling {ceiling:.0f}/s "
          f"= {ceiling / prompt_eval:.3f}x prompt eval")
    print(f"inside llama_decode {stats.tokens_evaluated / in_decode:.0f}/s = {stats.tokens_evaluated / in_decode / ceiling:.3f}x "
          f"the ceiling; whole fit {stats.tokens_evaluated / total:.0f}/s = {stats.tokens_evaluated / total / ceiling:.3f}x "
          f"the ceiling, {stats.tokens_evaluated / total / prompt_eval:.3f}x prompt eval")
    for kind, rows in calls.items():
        bound = sum((n - r) / prompt_eval + r / all_logits for n, r, _ in rows)
        seconds = sum(d for _, _, d in rows)
        print(f"  {kind:40s} {len(rows):4d} calls {sum(n for n, _, _ in rows):6d} tokens {seconds:6.1f} s, "
              f"bound / actual {bound / seconds:.3f}")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def call_kind(n_tokens: int, n_rows: int) -> str:
    if n_rows == 0:
        return "system blocks (no rows)"
    if n_rows == n_tokens:
        return "answer decodes (a row per token)"
    return "small waves" if n_tokens < 64 else "prefix decodes (a row per group)"


if __name__ == "__main__":
    main()
