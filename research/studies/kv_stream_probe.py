"""Prefix decodes on contiguous vs spread-out KV streams: why scoring waves give group heads sequences 0..G-1 (issue 13).

    PYTHONPATH=. .venv/bin/python research/studies/kv_stream_probe.py     # ~1 minute, alone on the machine

A 32-sequence context (non-unified KV: one stream per sequence), as the scorer uses. Each probe restores a
saved 11-20 token stem into G sequences, then times one decode of 18 tokens per sequence with the last
row kept, the shape of a scoring wave's prefix decode. llama.cpp attends over the contiguous range of
streams a batch touches, so the same work on streams 0, 2, ..., 30 costs more than on 0..15.
"""
from __future__ import annotations

import time

import numpy as np

from edge_drift.contexts import Segment
from edge_drift.engine import Engine

PREFIX_TOKENS = 18


def probe(ctx, seqs: list[int], tokens: list[int], repeats: int = 4) -> float:
    """Best tokens/s of the prefix decode over `repeats` runs."""
    best = 0.0
    for _ in range(repeats):
        ctx.clear()
        for i, seq in enumerate(seqs):
            stem = 11 + i % 10
            ctx._restore_stem(seq, tokens[1000 + i * 20:1000 + i * 20 + stem] + [1], stem)
        start = time.perf_counter()
        ctx.decode([Segment(seq, tokens[i * 50:i * 50 + PREFIX_TOKENS], "last") for i, seq in enumerate(seqs)])
        best = max(best, PREFIX_TOKENS * len(seqs) / (time.perf_counter() - start))
    return best


def main() -> None:
    engine = Engine()
    tokens = [int(t) for t in np.random.default_rng(0).integers(100, 40000, 4000)]
    layouts = {"16 heads on streams 0..15": list(range(16)), "16 heads on streams 0, 2, ..., 30": list(range(0, 32, 2)),
               "15 heads on streams 0..14": list(range(15)), "15 heads on streams 0, 2, ..., 28": list(range(0, 30, 2))}
    with engine.context(32, 256) as ctx:
        for round_ in range(2):
            for name, seqs in layouts.items():
                print(f"round {round_ + 1}: {name:36s} {probe(ctx, seqs, tokens):6.0f} tokens/s", flush=True)


if __name__ == "__main__":
    main()
