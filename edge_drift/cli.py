"""The `edge-drift` command line: a thin click shell over the library (heavy imports stay inside commands)."""
from __future__ import annotations

import json
import os
import sys
import traceback

import click

from .errors import EdgeDriftError

MODEL_HELP = "GGUF path, `default` (embedded SmolLM2-135M), or OWNER/REPO/FILE.gguf pulled earlier."


class FriendlyGroup(click.Group):
    """Turns every EdgeDriftError into one line on stderr (EDGE_DRIFT_DEBUG=1 shows the traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeDriftError as exc:
            if os.environ.get("EDGE_DRIFT_DEBUG"):
                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=float))


def open_engine(model: str):
    from .engine import Engine

    return Engine(model)


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="edge-drift")
def main() -> None:
    """Personalize a local GGUF chat model to one person, offline, at decoding time."""


# -- models ---------------------------------------------------------------------------------------
@main.group(cls=FriendlyGroup)
def models() -> None:
    """List and download GGUF models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def models_list(as_json: bool) -> None:
    """Show the embedded default model, cached models and recommended LLM + sLM pairs."""
    from .models import list_models

    listing = list_models()
    if as_json:
        echo_json(listing)
        return
    click.echo(f"default: {listing['default']}")
    click.echo(f"cache:   {listing['cache_dir']}")
    for name in listing["cached"] or ["(none pulled yet)"]:
        click.echo(f"  {name}")
    click.echo("recommended pairs (LLM writes, sLM steers; same tokenizer):")
    for pair in listing["pairs"]:
        marks = ["*" if pair[f"{r}_cached"] else " " for r in ("llm", "slm")]
        click.echo(f"  {pair['family']}: LLM {pair['llm_size']} {pair['llm_quant']} + sLM "
                   f"{pair['slm_size']} {pair['slm_quant']}")
        click.echo(f"   {marks[0]} {pair['llm']}\n   {marks[1]} {pair['slm']}")
    click.echo("(* = in the cache; fetch others with `edge-drift models pull REF` while online)")


@models.command("pull")
@click.argument("ref")
def models_pull(ref: str) -> None:
    """Download OWNER/REPO/FILE.gguf from the Hugging Face hub into the per-user cache."""
    from .models import pull

    click.echo(str(pull(ref)))


# -- benchmarks -----------------------------------------------------------------------------------
@main.group(cls=FriendlyGroup)
def bench() -> None:
    """Measure speed against llama.cpp's own throughput (run nothing else meanwhile)."""


@bench.command("engine")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--sequences", "n_sequences", default=8, show_default=True, help="Sequences per batched step.")
@click.option("--steps", "n_steps", default=32, show_default=True, help="Decode steps per measurement.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_engine_command(model: str, n_sequences: int, n_steps: int, as_json: bool) -> None:
    """Batched vs looped decode steps, and scoring vs raw prompt evaluation."""
    from .bench import bench_engine

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


# -- demo -----------------------------------------------------------------------------------------
@main.command()
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
def demo(model: str) -> None:
    """Score one answer under several attribute prompts on the embedded model."""
    from .demo import run_demo

    run_demo(model, click.echo)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
