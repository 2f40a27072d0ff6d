"""Does llama.cpp skip its output projection (lm_head) when a context returns hidden states instead of logits?

    .venv/bin/python research/studies/embeddings_mode_probe.py

Decodes the bench's 480 tokens with every position an output, in a context with logits (the scorer's
setting) and in one in embeddings mode (pooling none: one hidden state per token), alternating, best of 3
each. If embeddings mode were much faster, scoring could take hidden states and project them itself; it
is not (docs/RESULTS.md, "Not measured yet").
"""
from __future__ import annotations

import time

import llama_cpp
import numpy as np
from llama_cpp import _internals

from edge_drift.bench import _raw_tokens
from edge_drift.contexts import TokenBatch
from edge_drift.engine import Engine


def tokens_per_s(engine: Engine, tokens: np.ndarray, embeddings: bool, repeats: int = 3) -> float:
    params = llama_cpp.llama_context_params.from_buffer_copy(engine.llm.context_params)
    params.n_ctx = params.n_batch = params.n_ubatch = 512
    params.n_seq_max = 1
    params.embeddings = embeddings
    params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_NONE
    context = _internals.LlamaContext(model=engine.native_model, params=params, verbose=False)
    batch = TokenBatch(512)
    best = np.inf
    try:
        for _ in range(repeats):
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(context.ctx), True)
            batch.fill(tokens, np.arange(len(tokens)), np.zeros(len(tokens)), np.ones(len(tokens), np.int8))
            start = time.perf_counter()
            if llama_cpp.llama_decode(context.ctx, batch.batch) != 0:
                raise RuntimeError("llama_decode failed")
            best = min(best, time.perf_counter() - start)
    finally:
        context.close()
    return len(tokens) / best


if __name__ == "__main__":
    with Engine() as engine:
        tokens = np.asarray(_raw_tokens(engine), np.int32)
        for mode in (False, True, False, True):
            print(f"{'embeddings' if mode else 'logits':>10}: {tokens_per_s(engine, tokens, mode):.0f} tokens/s")
