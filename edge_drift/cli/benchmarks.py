"""`edge-drift bench`: speed measured against llama.cpp's own throughput."""
from __future__ import annotations

import click

from ..errors import EdgeDriftError
from .common import MODEL_HELP, FriendlyGroup, echo_json, max_response_tokens_option, open_engine


@click.group(cls=FriendlyGroup)
def bench() -> None:
    """Measure speed against llama.cpp's own throughput (run nothing else meanwhile)."""


@bench.command("engine")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--sequences", "n_sequences", default=8, show_default=True, help="Sequences per batched step.")
@click.option("--steps", "n_steps", default=32, show_default=True, help="Decode steps per measurement.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_engine_command(model: str, n_sequences: int, n_steps: int, as_json: bool) -> None:
    """Batched vs looped decode steps, and scoring vs raw prompt evaluation."""
    from ..bench import bench_engine

    with open_engine(model) as engine:
        result = bench_engine(engine, n_sequences=n_sequences, n_steps=n_steps)
    if as_json:
        echo_json(result)
        return
    click.echo(f"model {result['model']}, {result['n_threads']} threads")
    click.echo(f"single sequence:      {result['single_steps_per_s']:8.1f} steps/s")
    click.echo(f"{n_sequences} sequences batched:  {result['batched_steps_per_s']:8.1f} steps/s")
    click.echo(f"{n_sequences} sequences looped:   {result['looped_steps_per_s']:8.1f} steps/s"
               f"   batched/looped = {result['batched_vs_looped']:.2f}x")
    click.echo(f"raw prompt eval:      {result['prompt_eval_tokens_per_s']:8.1f} tokens/s")
    click.echo(f"scoring:              {result['scoring_tokens_per_s']:8.1f} tokens/s"
               f"   vs prompt eval = {result['scoring_vs_prompt_eval']:.2f}x "
               f"({result['scoring_evaluated_vs_prompt_eval']:.2f}x per evaluated token)")


@bench.command("decode")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--tokens", "n_tokens", default=48, show_default=True, help="Tokens generated per measurement.")
@click.option("--all-strategies/--drift-only", default=True, show_default=True,
              help="Also time pad, panda, args, best-of-n, prompt and plain (k = 7 profile).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_decode_command(model: str, n_tokens: int, all_strategies: bool, as_json: bool) -> None:
    """Plain vs Drift decoding (k = 1, 3, 7), the raw llama_decode bound, and every strategy."""
    from ..bench import bench_decode

    with open_engine(model) as engine:
        result = bench_decode(engine, n_tokens=n_tokens, other_strategies=all_strategies)
    if as_json:
        echo_json(result)
        return
    click.echo(f"model {result['model']}, {result['n_threads']} threads, {n_tokens} tokens")
    click.echo(f"plain:        {result['plain_tokens_per_s']:7.1f} tokens/s")
    for row in result["drift"]:
        click.echo(f"drift k={row['k']}:    {row['tokens_per_s']:7.1f} tokens/s   bound {row['bound_tokens_per_s']:7.1f}"
                   f"   vs bound {row['vs_bound']:.2f}x   vs plain {row['vs_plain']:.2f}x")
    for row in result.get("strategies", []):
        click.echo(f"{row['strategy']:<13} {row['tokens_per_s']:7.1f} tokens/s   vs plain {row['vs_plain']:.2f}x")


@bench.command("fit")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="DSP-style JSON whose pairs are fitted (e.g. the DSP benchmark's dsp_dev.json; not shipped).")
@click.option("--user", default="academy", show_default=True, help="The DSP domain whose choices are fitted.")
@click.option("--pairs", "n_pairs", default=50, show_default=True, type=click.IntRange(1), help="Pairs to fit.")
@click.option("--full/--no-full", default=False, show_default=True,
              help="Also time the full fit without screening (the 'before'; ~15 min on 2 cores).")
@max_response_tokens_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_fit_command(model: str, data: str, user: str, n_pairs: int, full: bool, max_response_tokens: int,
                      as_json: bool) -> None:
    """A cold 50-pair profile fit and one vote, against raw prompt evaluation, in one run."""
    import json
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from ..bench import bench_fit
    from ..evaluation import user_pairs

    if not Path(data).is_file():
        raise EdgeDriftError(f"no DSP data at {data}; pass --data PATH to a DSP-style JSON file")
    _, pairs = user_pairs(Path(data), "dsp", user)
    pairs = [p for p in pairs if p.chosen.strip() != p.rejected.strip()]  # DSP repeats an answer across domains now and then
    if len(pairs) < n_pairs + 1:
        raise EdgeDriftError(f"{data} has {len(pairs)} pairs for {user}; lower --pairs below that")

    def cli_vote(profiles_dir: str) -> float:
        """The same kind of vote as a fresh `edge-drift profile add` process (model load included)."""
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
            handle.write(json.dumps(pairs[n_pairs + 1].to_dict()) + "\n")
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("edge-drift")), "profile", "add", "bench", "--pairs", handle.name,
                        "--profiles-dir", profiles_dir, "--model", model], check=True, capture_output=True)
        Path(handle.name).unlink()
        return time.perf_counter() - start

    with open_engine(model) as engine:
        result = bench_fit(engine, pairs[:n_pairs], pairs[n_pairs], full_fit=full, cli_vote=cli_vote,
                           max_response_tokens=max_response_tokens)
    if as_json:
        echo_json(result)
        return
    click.echo(f"{result['n_pairs']}-pair fit: {result['fit_seconds']:.1f}s, {result['fit_tokens_evaluated']} tokens "
               f"evaluated ({result['evaluated_vs_naive']:.2f}x a naive scorer's {result['naive_tokens']}), "
               f"{result['attributes_screened_out']} attributes screened out")
    click.echo(f"fit rate: {result['fit_evaluated_tokens_per_s']:.0f} evaluated tokens/s = "
               f"{result['fit_evaluated_vs_prompt_eval']:.2f}x raw prompt eval "
               f"({result['prompt_eval_tokens_per_s']:.0f} tokens/s), {result['fit_evaluated_vs_all_logits_eval']:.2f}x "
               f"evaluation with every token's logits ({result['all_logits_eval_tokens_per_s']:.0f} tokens/s), "
               f"{result['fit_evaluated_vs_same_rows_eval']:.2f}x evaluation with the fit's share of logit rows "
               f"({result['fit_logit_rows_share']:.0%}); naive-equivalent {result['fit_naive_vs_prompt_eval']:.2f}x")
    click.echo(f"one vote: {result['vote_seconds']:.1f}s warm (server path), {result['vote_cli_seconds']:.1f}s as "
               f"`profile add` (new process)")
    if result["full_fit"]:
        click.echo(f"full fit (no screening): {result['full_fit']['seconds']:.1f}s = "
                   f"{result['fit_speedup_vs_full']:.2f}x slower")


@bench.command("serve")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--requests", "n_requests", default=16, show_default=True, type=click.IntRange(1),
              help="Requests per measurement.")
@click.option("--max-tokens", default=64, show_default=True, type=click.IntRange(1), help="Tokens per answer.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_serve_command(model: str, n_requests: int, max_tokens: int, as_json: bool) -> None:
    """Served tokens/s and time to first token (1 and 4 clients) vs the library directly, in one run."""
    from ..bench import bench_serve

    result = bench_serve(model, n_requests=n_requests, max_tokens=max_tokens)
    if as_json:
        echo_json(result)
        return
    direct = result["direct"]
    click.echo(f"library:    {direct['tokens_per_s']:7.1f} tokens/s   first token p50 {direct['ttft_p50_s']:.3f}s "
               f"p95 {direct['ttft_p95_s']:.3f}s")
    for run in result["served"]:
        click.echo(f"{run['clients']} client(s): {run['tokens_per_s']:7.1f} tokens/s   first token p50 "
                   f"{run['ttft_p50_s']:.3f}s p95 {run['ttft_p95_s']:.3f}s   vs library {run['vs_direct']:.2f}x")


@bench.command("round")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_round_command(model: str, as_json: bool) -> None:
    """One compare round: choosing the question and writing its two answers, vs a steered-vs-plain round."""
    from ..bench import bench_round

    result = bench_round(model)
    if as_json:
        echo_json(result)
        return
    click.echo(f"question ({result['attribute_asked']}): {result['question_s'] * 1000:.0f} ms")
    click.echo(f"informative round: {result['informative_round_s']:.2f} s ({result['informative_tokens']} tokens)")
    click.echo(f"steered vs plain:  {result['steered_vs_plain_round_s']:.2f} s ({result['steered_vs_plain_tokens']} "
               f"tokens)   informative / steered-vs-plain = {result['informative_vs_steered_vs_plain']:.2f}x")

