"""Benchmarks that measure edge-drift against llama.cpp's own throughput in the same run."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .attributes import load_attribute_set
from .engine import Engine, MultiSequenceContext

BENCH_QUESTION = "Explain how a refrigerator keeps food cold, in a few sentences."
BENCH_CHOSEN = (
    "A refrigerator pumps heat out of its insulated box. A refrigerant evaporates in coils inside, "
    "absorbing heat, then a compressor squeezes it so it releases that heat through coils at the back. "
    "The cycle repeats, keeping the inside cold."
)
BENCH_REJECTED = (
    "Picture a tiny river of cold winding through hidden pipes, quietly carrying the day's warmth away "
    "from your milk and berries, like a patient friend who never sleeps and always keeps your food fresh."
)


def best_time(function: Callable[[], object], repeats: int) -> float:
    """Fastest of several runs: the machine is shared, and noise only ever adds time."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def scoring_workload(engine: Engine, n_attributes: int | None = None) -> list[tuple[list[int], list[int]]]:
    """The profile-fitting workload for one pair: every attribute prompt x {chosen, rejected}."""
    attributes = load_attribute_set()
    prompts = [attributes.base] + [a.prompt for a in attributes.attributes[:n_attributes]]
    items = []
    for system in prompts:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": BENCH_QUESTION}]
        prefix = engine.chat_tokens(messages)
        for reply in (BENCH_CHOSEN, BENCH_REJECTED):
            items.append((prefix, engine.reply_tokens(messages, reply)))
    return items


def _steps(ctx: MultiSequenceContext, prompt: list[int], n_seq: int, n_steps: int, looped: bool) -> Callable:
    def run() -> None:
        ctx.start([prompt] * n_seq)
        for _ in range(n_steps):
            if looped:
                for seq in range(n_seq):
                    ctx.step([198], [seq])
            else:
                ctx.step([198] * n_seq)
    return run


def bench_engine(engine: Engine, n_sequences: int = 8, n_steps: int = 32, repeats: int = 3) -> dict:
    """Decode steps/s (single, batched, looped) and scoring vs raw prompt evaluation, one run."""
    prompt = engine.chat_tokens([{"role": "user", "content": BENCH_QUESTION}])
    with engine.context(1, 512) as single, engine.context(n_sequences, 512) as multi:
        start_cost = best_time(lambda: single.start([prompt]), repeats)
        single_s = best_time(_steps(single, prompt, 1, n_steps, False), repeats) - start_cost
        multi_start = best_time(lambda: multi.start([prompt] * n_sequences), repeats)
        batched_s = best_time(_steps(multi, prompt, n_sequences, n_steps, False), repeats) - multi_start
        looped_s = best_time(_steps(multi, prompt, n_sequences, n_steps, True), repeats) - multi_start

    items = scoring_workload(engine)
    logical_tokens = sum(len(p) + len(c) for p, c in items)
    evaluated_tokens = sum(len(p) for p in {tuple(p) for p, _ in items}) + sum(len(c) for _, c in items)
    # Raw prompt evaluation: llama-cpp-python's own Llama.eval of one long sequence (last logits only).
    raw_tokens = (prompt * (1 + 480 // len(prompt)))[:480]

    def raw_eval() -> None:
        engine.llm.reset()
        engine.llm.eval(raw_tokens)

    with engine.context(32, 512) as scorer:
        raw_s, score_s = np.inf, np.inf
        for _ in range(repeats):  # interleaved so drifting machine load hits both alike
            raw_s = min(raw_s, best_time(raw_eval, 1))
            score_s = min(score_s, best_time(lambda: scorer.score(items), 1))
    prompt_eval = len(raw_tokens) / raw_s
    scoring = logical_tokens / score_s
    return {
        "model": engine.path.name,
        "n_threads": engine.n_threads,
        "n_sequences": n_sequences,
        "n_steps": n_steps,
        "single_steps_per_s": n_steps / single_s,
        "batched_steps_per_s": n_steps / batched_s,
        "looped_steps_per_s": n_steps / looped_s,
        "batched_vs_looped": looped_s / batched_s,
        "prompt_eval_tokens_per_s": prompt_eval,
        "scoring_tokens_per_s": scoring,
        "scoring_evaluated_tokens_per_s": evaluated_tokens / score_s,
        "scoring_vs_prompt_eval": scoring / prompt_eval,
        "scoring_evaluated_vs_prompt_eval": evaluated_tokens / score_s / prompt_eval,
        "scoring_items": len(items),
        "scoring_tokens_saved_by_prefix_sharing": logical_tokens - evaluated_tokens,
    }
