"""The `edge-drift` command line: a thin click shell over the library (heavy imports stay inside commands)."""
from __future__ import annotations

import sys

import click

from .benchmarks import bench
from .common import MODEL_HELP, FriendlyGroup, profiles_dir_option, progress_bars
from .data import data
from .evaluation import evaluate
from .generation import chat, generate
from .models import models
from .profiles import profile
from .serving import serve


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="edge-drift")
def main() -> None:
    """Personalize a local GGUF chat model to one person, offline, at decoding time."""


@click.command()
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@profiles_dir_option
def demo(model: str, profiles_dir: str | None) -> None:
    """Fit the example user terse_tim, then answer one question plain and steered."""
    from contextlib import ExitStack

    from ..demo import run_demo

    with ExitStack() as stack:
        run_demo(model, profiles_dir, click.echo, progress_bars(stack, "   scoring pairs"))


for command in (models, profile, generate, chat, serve, data, evaluate, bench, demo):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
