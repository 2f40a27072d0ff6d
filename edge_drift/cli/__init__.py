"""The `edge-drift` command line: a thin click shell over the library (heavy imports stay inside commands)."""
from __future__ import annotations

import sys

import click

from .benchmarks import bench
from .common import MODEL_HELP, FriendlyGroup, profiles_dir_option, progress_bars
from .data import data
from .evaluation import evaluate
from .generation import chat, generate
from .importing import importing
from .models import models
from .profiles import profile
from .serving import serve


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="edge-drift")
@click.option("--n-gpu-layers", type=int, default=None, metavar="N",
              help="Layers to offload to a GPU: -1 all, 0 none [default: all when this llama.cpp build has a GPU "
                   "backend, else 0; also $EDGE_DRIFT_N_GPU_LAYERS]. Applies to every model of the command.")
def main(n_gpu_layers: int | None) -> None:
    """Personalize a local GGUF chat model to one person, offline, at decoding time."""
    if n_gpu_layers is not None:  # the environment reaches every Engine, also the server's worker
        import os

        from ..engine import GPU_LAYERS_ENV
        os.environ[GPU_LAYERS_ENV] = str(n_gpu_layers)


@click.command()
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@profiles_dir_option
def demo(model: str, profiles_dir: str | None) -> None:
    """Fit the example user terse_tim, then answer one question plain and steered."""
    from contextlib import ExitStack

    from ..demo import run_demo

    with ExitStack() as stack:
        run_demo(model, profiles_dir, click.echo, progress_bars(stack, "   scoring pairs"))


for command in (models, profile, generate, chat, serve, data, importing, evaluate, bench, demo):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
