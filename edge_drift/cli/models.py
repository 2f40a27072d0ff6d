"""`edge-drift models`: list the default and cached GGUF models, pull one from the hub."""
from __future__ import annotations

import click

from .common import FriendlyGroup, echo_json


@click.group(cls=FriendlyGroup)
def models() -> None:
    """List and download GGUF models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def models_list(as_json: bool) -> None:
    """Show the embedded default model, cached models and recommended LLM + sLM pairs."""
    from ..models import list_models

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
    from ..models import pull

    click.echo(str(pull(ref)))
