"""Benchmarks that measure edge-drift against llama.cpp's own throughput in the same run."""
from __future__ import annotations

import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from .attributes import load_attribute_set
from .contexts import MultiSequenceContext
from .engine import Engine
from .prompts import attribute_messages

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
        messages = attribute_messages(system, BENCH_QUESTION)
        prefix = engine.chat_tokens(messages)
        for reply in (BENCH_CHOSEN, BENCH_REJECTED):
            items.append((prefix, engine.reply_tokens(messages, reply)))
    return items


def step_token(engine: Engine) -> int:
    """Any ordinary token to feed decode steps with (speed does not depend on which): the first of a newline."""
    return engine.llm.tokenize(b"\n", add_bos=False, special=False)[0]


def _steps(ctx: MultiSequenceContext, prompt: list[int], n_seq: int, n_steps: int, looped: bool) -> Callable:
    token = step_token(ctx.engine)

    def run() -> None:
        ctx.start([prompt] * n_seq)
        for _ in range(n_steps):
            if looped:
                for seq in range(n_seq):
                    ctx.step([token], [seq])
            else:
                ctx.step([token] * n_seq)
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
    with engine.context(32, 512) as scorer:
        prompt_eval, score_s = 0.0, np.inf
        for _ in range(repeats):  # interleaved so drifting machine load hits both alike
            prompt_eval = max(prompt_eval, raw_prompt_eval_rate(engine, 1))
            score_s = min(score_s, best_time(lambda: scorer.score(items), 1))
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


def synthetic_profile(engine: Engine, k: int):
    """A profile over the first k packaged attributes with alternating-sign unit-norm weights."""
    from .profile import AttributeStat, Profile

    attributes = load_attribute_set()
    weights = np.array([(-1) ** i * (1.0 - 0.1 * i) for i in range(k)])
    weights /= np.linalg.norm(weights)
    stats = [AttributeStat(a.name, a.prompt, float(w), 0.0, True) for a, w in zip(attributes.attributes, weights)]
    return Profile(user="bench", slm=engine.identity.to_dict(), base_prompt=attributes.base, attributes=stats,
                   solver="drift", n_pairs=1, cv_accuracy=None, top_k=k)


def decode_rate(models, strategy, request, base_prompt: str, repeats: int) -> float:
    """Best tokens/s over repeats (a warm-up run first fills the KV caches: prompts are reused)."""
    from .decoding import generate_text

    generate_text(models, strategy, request, base_prompt)
    best = 0.0
    for _ in range(repeats):
        _, event = generate_text(models, strategy, request, base_prompt)
        best = max(best, event.tokens_per_s)
    return best


def raw_step_rate(engine: Engine, prompts: list[list[int]], llm_prompt: list[int], n_steps: int, repeats: int) -> float:
    """The physical bound: llama_decode of the LLM's token plus ONE batched step of the sLM sequences."""
    token = step_token(engine)
    with engine.context(1, 1024) as llm_ctx, engine.context(len(prompts), 1024) as slm_ctx:
        best = np.inf
        for _ in range(repeats):
            llm_ctx.start([llm_prompt])
            slm_ctx.start(prompts)
            start = time.perf_counter()
            for _ in range(n_steps):
                llm_ctx.step([token])
                slm_ctx.step([token] * len(prompts))
            best = min(best, time.perf_counter() - start)
    return n_steps / best


def bench_decode(engine: Engine, ks: tuple[int, ...] = (1, 3, 7), n_tokens: int = 48, repeats: int = 2,
                 other_strategies: bool = False) -> dict:
    """Plain vs Drift decode tokens/s (k attributes) and the raw-decode bound, in one run."""
    from .decoding import Models, PlainStrategy, Request, SamplingSettings
    from .strategies import DriftStrategy

    models = Models(engine, engine)
    base = load_attribute_set().base
    # min_tokens is not in the API: ban nothing, but ask for a long answer so all runs hit max_tokens
    request = Request([{"role": "user", "content": "Write a long, detailed essay about the history of bridges."}],
                      settings=SamplingSettings(temperature=0.0, max_tokens=n_tokens))
    plain = decode_rate(models, PlainStrategy(), request, base, repeats)
    llm_prompt = engine.chat_tokens(PlainStrategy().llm_messages(base, request))
    drift = []
    for k in ks:
        strategy = DriftStrategy(synthetic_profile(engine, k))
        rate = decode_rate(models, strategy, request, base, repeats)
        prompts = strategy.follower.prompts
        strategy.close()
        bound = raw_step_rate(engine, prompts, llm_prompt, n_tokens, repeats)
        drift.append({"k": k, "sequences": len(prompts), "tokens_per_s": rate, "bound_tokens_per_s": bound,
                      "vs_bound": rate / bound, "vs_plain": rate / plain})
    result = {"model": engine.path.name, "n_threads": engine.n_threads, "n_tokens": n_tokens,
              "plain_tokens_per_s": plain, "drift": drift}
    if other_strategies:  # every other strategy with the same 7-attribute profile, same request
        from .strategies import STRATEGY_NAMES, make_strategy

        profile = synthetic_profile(engine, 7)
        result["strategies"] = []
        for name in STRATEGY_NAMES:
            strategy = make_strategy(name, profile)
            rate = decode_rate(models, strategy, request, base, repeats)
            strategy.close()
            result["strategies"].append({"strategy": name, "tokens_per_s": rate, "vs_plain": rate / plain})
    return result


def raw_prompt_eval_rate(engine: Engine, repeats: int = 3) -> float:
    """llama-cpp-python's own Llama.eval of one 480-token sequence (last logits only), in tokens/s."""
    raw_tokens = _raw_tokens(engine)

    def raw_eval() -> None:
        engine.llm.reset()
        engine.llm.eval(raw_tokens)
    return len(raw_tokens) / best_time(raw_eval, repeats)


def all_logits_eval_rate(engine: Engine, repeats: int = 3) -> float:
    """The same 480 tokens with the log-prob of every next token (a full-vocabulary row each), in tokens/s.

    This is the per-token work of scoring an answer token: the output projection over the whole
    vocabulary, which prompt evaluation skips for all but the last token.
    """
    from .contexts import Segment

    raw_tokens = _raw_tokens(engine)
    with engine.context(1, 512) as ctx:
        def all_logits() -> None:
            ctx.clear()
            ctx.decode([Segment(0, raw_tokens[:-1], "all", targets=np.asarray(raw_tokens[1:]))])
        return (len(raw_tokens) - 1) / best_time(all_logits, repeats)


def _raw_tokens(engine: Engine) -> list[int]:
    prompt = engine.chat_tokens([{"role": "user", "content": BENCH_QUESTION}])
    return (prompt * (1 + 480 // len(prompt)))[:480]


def naive_tokens(engine: Engine, pairs, attributes, max_response_tokens: int) -> int:
    """Tokens a naive scorer evaluates: prefix + answer for every (attribute, answer) item of every pair."""
    from .rewards import pair_jobs, tokenize_job

    systems = [attributes.base] + [a.prompt for a in attributes.attributes]
    total = 0
    for pair in pairs:
        for job in pair_jobs(pair, systems):
            prefix, answer = tokenize_job(engine, job, max_response_tokens)
            total += len(prefix) + len(answer)
    return total


def bench_fit(engine: Engine, pairs, vote_pair, full_fit: bool = False, cli_vote: Callable[[str], float] | None = None,
              max_response_tokens: int | None = None) -> dict:
    """A cold fit of `pairs` (defaults: all attributes, screening, `select`, the default answer cut-off),
    then one vote, in one run.

    `cli_vote(profiles_dir)` may time the same vote as a fresh `edge-drift profile add` process.

    Prompt evaluation is measured before and after the fit (the faster counts: noise only adds time).
    """
    import tempfile

    from .fitting import fit_profile
    from .store import ProfileStore
    from .rewards import DEFAULT_MAX_RESPONSE_TOKENS
    from .screening import NO_SCREENING

    attributes = load_attribute_set()
    cutoff = max_response_tokens or DEFAULT_MAX_RESPONSE_TOKENS
    prompt_eval, all_logits = raw_prompt_eval_rate(engine), all_logits_eval_rate(engine)
    with tempfile.TemporaryDirectory() as folder:
        store = ProfileStore(folder)
        engine.stems.clear()  # cold: nothing saved from an earlier run
        start = time.perf_counter()
        report = fit_profile(engine, store, "bench", pairs, attributes=attributes, max_response_tokens=cutoff)
        fit_s = time.perf_counter() - start
        from .assistant import Assistant

        with Assistant(engine, profiles_dir=folder) as assistant:  # the server's feedback path, minus HTTP
            start = time.perf_counter()
            vote = assistant.feedback("bench", vote_pair)
            vote_s = time.perf_counter() - start
        cli_vote_s = cli_vote(folder) if cli_vote else None
        full = None
        if full_fit:
            engine.stems.clear()
            start = time.perf_counter()
            before = fit_profile(engine, ProfileStore(f"{folder}/full"), "bench", pairs, attributes=attributes,
                                 screening=NO_SCREENING, max_response_tokens=cutoff)
            full = {"seconds": time.perf_counter() - start, "tokens_evaluated": before.stats.tokens_evaluated}
    prompt_eval = max(prompt_eval, raw_prompt_eval_rate(engine))
    all_logits = max(all_logits, all_logits_eval_rate(engine))
    naive = naive_tokens(engine, pairs, attributes, cutoff)
    stats = report.stats
    screening = report.profile.screening or {}
    # The fastest a fit can evaluate its tokens: prompt-eval speed for the prompt tokens and all-logits
    # speed for the share that needs a full-vocabulary row (answer tokens); the ratio to it is overhead.
    row_share = stats.logit_rows / stats.tokens_evaluated
    same_rows = 1 / ((1 - row_share) / prompt_eval + row_share / all_logits)
    return {
        "model": engine.path.name,
        "n_threads": engine.n_threads,
        "n_pairs": len(pairs),
        "n_attributes": len(attributes.attributes),
        "max_response_tokens": cutoff,
        "position_decay": report.profile.position_decay,
        "solver": report.profile.solver,
        "screening": {k: v for k, v in screening.items() if k != "screened_out"},
        "attributes_screened_out": len(screening.get("screened_out", {})),
        "fit_seconds": fit_s,
        "fit_tokens_evaluated": stats.tokens_evaluated,
        "fit_tokens_scored": stats.tokens_scored,
        "naive_tokens": naive,
        "tokens_evaluated_per_pair": stats.tokens_evaluated / len(pairs),
        "naive_tokens_per_pair": naive / len(pairs),
        "evaluated_vs_naive": stats.tokens_evaluated / naive,
        "prompt_eval_tokens_per_s": prompt_eval,
        "fit_evaluated_tokens_per_s": stats.tokens_evaluated / fit_s,
        "fit_evaluated_vs_prompt_eval": stats.tokens_evaluated / fit_s / prompt_eval,
        "all_logits_eval_tokens_per_s": all_logits,
        "fit_evaluated_vs_all_logits_eval": stats.tokens_evaluated / fit_s / all_logits,
        "fit_logit_rows_share": row_share,
        "same_rows_eval_tokens_per_s": same_rows,
        "fit_evaluated_vs_same_rows_eval": stats.tokens_evaluated / fit_s / same_rows,
        "fit_naive_tokens_per_s": naive / fit_s,
        "fit_naive_vs_prompt_eval": naive / fit_s / prompt_eval,
        "vote_seconds": vote_s,
        "vote_tokens_evaluated": vote.stats.tokens_evaluated,
        "vote_cli_seconds": cli_vote_s,
        "full_fit": full,
        "fit_speedup_vs_full": full["seconds"] / fit_s if full else None,
    }


# -- `edge-drift bench serve`: served tokens/s and time to first token vs the same generation through the library
BENCH_PROMPTS = [
    "Write a long, detailed essay about the history of bridges.",
    "Explain in detail how a refrigerator works.",
    "Describe, step by step, how to plan a vegetable garden.",
    "Tell me everything you know about the moon landings.",
    "Explain how the internet delivers a web page, in detail.",
    "Write a long story about a lighthouse keeper.",
    "Describe the water cycle in great detail.",
    "Explain how to learn a new language as an adult.",
]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def direct_run(assistant, prompts: list[str], max_tokens: int) -> dict:
    """The same requests through the Assistant in this process: the bound the server is measured against."""
    from .decoding import SamplingSettings

    settings = SamplingSettings(temperature=0.0, max_tokens=max_tokens)
    assistant.generate([{"role": "user", "content": "Hi"}], strategy="plain", settings=settings)  # warm-up
    tokens, first = 0, []
    start = time.perf_counter()
    for prompt in prompts:
        sent = time.perf_counter()
        seen = False
        for event in assistant.stream([{"role": "user", "content": prompt}], strategy="plain", settings=settings):
            if event.text and not seen:
                first.append(time.perf_counter() - sent)
                seen = True
            if event.done:
                tokens += event.n_tokens
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "ttft_p50_s": percentile(first, 50), "ttft_p95_s": percentile(first, 95)}


def one_streamed_request(client, url: str, prompt: str, max_tokens: int) -> tuple[float, int]:
    """(time to first content token, completion tokens) of one streamed request."""
    body = {"model": "edge-drift-plain", "messages": [{"role": "user", "content": prompt}], "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": max_tokens, "temperature": 0}
    sent = time.perf_counter()
    first, tokens = None, 0
    with client.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - sent
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return first or 0.0, tokens


def served_run(url: str, prompts: list[str], max_tokens: int, clients: int) -> dict:
    """`clients` threads share the prompts; the server answers them one at a time from its queue.

    Each thread keeps one connection, as chat apps do (a new httpx client per request costs ~25 ms of TLS
    set-up on the client side, which is not the server's time).
    """
    import httpx

    local = threading.local()

    def request(prompt: str) -> tuple[float, int]:
        if not hasattr(local, "client"):
            local.client = httpx.Client()
        return one_streamed_request(local.client, url, prompt, max_tokens)

    with httpx.Client() as warm:
        one_streamed_request(warm, url, "Hi", max_tokens)  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(request, prompts))
    seconds = time.perf_counter() - start
    tokens = sum(n for _, n in results)
    first = [t for t, _ in results]
    return {"clients": clients, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "ttft_p50_s": percentile(first, 50), "ttft_p95_s": percentile(first, 95)}


def bench_serve(model: str = "default", n_requests: int = 16, max_tokens: int = 64,
                concurrency: tuple[int, ...] = (1, 4), rounds: int = 2) -> dict:
    """Library and server take turns (never at the same time) for `rounds` rounds; the best round of each counts,
    so that a noisy moment on a shared machine does not decide the ratio."""
    from .assistant import Assistant
    from .serving.process import ServerProcess

    prompts = [BENCH_PROMPTS[i % len(BENCH_PROMPTS)] for i in range(n_requests)]
    best: dict = {}

    def keep(key, run: dict) -> None:
        if key not in best or run["tokens_per_s"] > best[key]["tokens_per_s"]:
            best[key] = run

    with tempfile.TemporaryDirectory() as folder, Assistant(model, profiles_dir=folder) as assistant:
        with ServerProcess("--model", model, "--profiles-dir", folder, "--queue-size", str(max(concurrency) * 2),
                           log=Path(folder) / "serve.log") as server:
            for _ in range(rounds):
                keep("direct", direct_run(assistant, prompts, max_tokens))
                for clients in concurrency:
                    keep(clients, served_run(server.url, prompts, max_tokens, clients))
    direct = best["direct"]
    runs = [{**best[c], "vs_direct": best[c]["tokens_per_s"] / direct["tokens_per_s"]} for c in concurrency]
    return {"model": model, "n_requests": n_requests, "max_tokens": max_tokens, "strategy": "plain",
            "rounds": rounds, "direct": direct, "served": runs, "min_vs_direct": min(r["vs_direct"] for r in runs)}


# -- `edge-drift bench round`: what one compare round costs, informative vs steered-vs-plain ---------------------
def bench_round(model: str = "default", prompt: str = "How do I start journaling?", repeats: int = 2,
                n_attributes: int | None = None, max_tokens: int | None = None) -> dict:
    """The demo's 12-pair profile, then (best of `repeats`) the time to choose the question and to write the two
    answers of an informative round (leaning + and - on it) and of a steered-vs-plain round, at the page's settings."""
    from .assistant import Assistant
    from .attributes import load_attribute_set
    from .decoding import COMPARE_MAX_TOKENS, VARIED_TEMPERATURE, SamplingSettings
    from .demo import DEMO_ATTRIBUTES, DEMO_USER, EXAMPLES
    from .pairs import read_pairs

    max_tokens = max_tokens or COMPARE_MAX_TOKENS
    settings = SamplingSettings(max_tokens=max_tokens, temperature=VARIED_TEMPERATURE, seed=5)
    messages = [{"role": "user", "content": prompt}]
    with tempfile.TemporaryDirectory() as folder, Assistant(model, profiles_dir=folder) as assistant:
        assistant.fit(DEMO_USER, read_pairs(EXAMPLES / f"{DEMO_USER}.pairs.jsonl").pairs,
                      attributes=load_attribute_set().select(DEMO_ATTRIBUTES[:n_attributes]), top_k_attributes=3)

        def answers(sides: list[dict]) -> tuple[float, int]:
            start, tokens = time.perf_counter(), 0
            for options in sides:
                _, last = assistant.generate(messages, user=DEMO_USER, settings=settings, **options)
                tokens += last.n_tokens
            return time.perf_counter() - start, tokens

        question = assistant.question(DEMO_USER, np.random.default_rng(0))
        leaning = [{"strategy": "drift", "lean": f"{sign}{question.attribute}"} for sign in "+-"]
        today = [{"strategy": "drift"}, {"strategy": "plain"}]
        answers(leaning + today)  # warm: the sLM contexts of each side exist from here on
        choose_s = best_time(lambda: assistant.question(DEMO_USER, np.random.default_rng(0)), 5)
        informative = min((answers(leaning) for _ in range(repeats)), key=lambda r: r[0])
        plain_round = min((answers(today) for _ in range(repeats)), key=lambda r: r[0])
    return {"model": model, "max_tokens": max_tokens, "attribute_asked": question.attribute,
            "question_s": round(choose_s, 4),
            "informative_round_s": round(informative[0] + choose_s, 2), "informative_tokens": informative[1],
            "steered_vs_plain_round_s": round(plain_round[0], 2), "steered_vs_plain_tokens": plain_round[1],
            "informative_vs_steered_vs_plain": round((informative[0] + choose_s) / plain_round[0], 2)}
