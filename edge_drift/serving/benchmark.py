"""`edge-drift bench serve`: served tokens/s and time to first token vs the same generation through the library."""
from __future__ import annotations

import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

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
    from ..decoding import SamplingSettings

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
    from ..assistant import Assistant
    from .process import ServerProcess

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
