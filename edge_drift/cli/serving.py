"""`edge-drift serve`: the OpenAI-compatible local server (a thin shell over edge_drift.serving)."""
from __future__ import annotations

import ipaddress
import os
import sys

import click

from ..errors import EdgeDriftError
from ..serving.worker import DEFAULT_MAX_SECONDS, DEFAULT_QUEUE_SIZE
from .common import ALL_ATTRIBUTES, MODEL_HELP, profiles_dir_option

API_KEY_ENV = "EDGE_DRIFT_API_KEY"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback keeps it private).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--model", default="default", show_default=True, help="The LLM that writes. " + MODEL_HELP)
@click.option("--slm", default=None, help="The sLM that steers and scores votes (same tokenizer) [default: --model].")
@click.option("--api-key", envvar=API_KEY_ENV, default=None,
              help=f"Require `Authorization: Bearer KEY` on /v1/* [env: {API_KEY_ENV}].")
@profiles_dir_option
@click.option("--queue-size", default=DEFAULT_QUEUE_SIZE, show_default=True, type=click.IntRange(1),
              help="Requests that may wait while one runs; more get 503 with Retry-After.")
@click.option("--max-seconds", default=DEFAULT_MAX_SECONDS, show_default=True, type=click.FloatRange(0),
              help="Longest one answer may generate; past it the answer ends with finish_reason \"length\" "
                   "(0 = no limit). Keeps one long request from holding the queue for minutes.")
@click.option("--attributes", default=None, metavar="A,B,...",
              help=f"Attributes of a profile started by a first vote [default: {ALL_ATTRIBUTES}; fewer = faster votes].")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host without --api-key (anyone on the network can use it).")
def serve(host, port, model, slm, api_key, profiles_dir, queue_size, max_seconds, attributes, allow_remote):
    """Serve OpenAI-compatible chat completions steered toward each user, learning from their votes."""
    if not is_loopback(host) and not api_key and not allow_remote:
        raise EdgeDriftError(f"--host {host} is reachable from other machines; set --api-key (or {API_KEY_ENV}), "
                             "or pass --allow-remote if you really want it open")
    import uvicorn

    from ..assistant import Assistant
    from ..attributes import load_attribute_set
    from ..serving.app import create_app

    chosen = load_attribute_set().select([a.strip() for a in attributes.split(",") if a.strip()]) if attributes else None
    with Assistant(model, slm=slm, profiles_dir=profiles_dir, attributes=chosen) as assistant:
        app = create_app(assistant, api_key=api_key, queue_size=queue_size, max_seconds=max_seconds or None)
        click.echo(f"edge-drift serving {assistant.llm.path.name} on http://{host}:{port}/v1 "
                   f"(profiles: {assistant.store.root}, queue {queue_size}{', API key required' if api_key else ''})",
                   err=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
        if not app.state.worker.stop():
            # Never free the models under a running job (a long fit or best-of-n does not stop mid-way): leaving
            # this `with` would close them, and llama.cpp would crash in the worker. Exit without unwinding.
            click.echo("edge-drift serve: the worker is still busy; exiting without freeing the models", err=True)
            sys.stderr.flush()
            os._exit(1)
