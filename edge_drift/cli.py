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


# -- profiles -------------------------------------------------------------------------------------
def profiles_dir_option(function):
    return click.option("--profiles-dir", default=None, metavar="DIR",
                        help="Profiles folder [default: $EDGE_DRIFT_PROFILES or ./profiles].")(function)


def fit_options(function):
    function = click.option("--model", default="default", show_default=True,
                            help="The sLM that scores attributes. " + MODEL_HELP)(function)
    function = click.option("--pairs", "pairs_file", required=True, type=click.Path(dir_okay=False),
                            help="JSONL: one {prompt, chosen, rejected[, messages, system]} per line.")(function)
    return profiles_dir_option(function)


@main.group(cls=FriendlyGroup)
def profile() -> None:
    """Fit, extend, inspect and remove per-user preference profiles."""


def run_fit(user, pairs_file, model, profiles_dir, incremental, **options):
    from contextlib import ExitStack

    from .pairs import read_pairs
    from .profile import ProfileStore, fit_profile

    parsed = read_pairs(pairs_file)
    if parsed.duplicate_lines:
        click.echo(f"skipped {len(parsed.duplicate_lines)} duplicate pair(s) at line(s) "
                   f"{', '.join(map(str, parsed.duplicate_lines))}", err=True)
    store = ProfileStore(profiles_dir)
    with ExitStack() as stack, open_engine(model) as engine:
        def progress_factory(total: int):
            bar = stack.enter_context(click.progressbar(length=total, label="scoring pairs", show_eta=True,
                                                        show_pos=True, file=sys.stderr))
            return bar.update
        report = fit_profile(engine, store, user, parsed.pairs, incremental=incremental,
                             progress_factory=progress_factory, **options)
    fitted = report.profile
    stats = report.stats
    rate = stats.tokens_scored / stats.seconds if stats.seconds else 0.0
    click.echo(f"{'updated' if incremental else 'fitted'} {report.path}: {fitted.n_pairs} pairs "
               f"({report.n_new_pairs} new), solver {fitted.solver}, cv accuracy "
               f"{'n/a' if fitted.cv_accuracy is None else f'{fitted.cv_accuracy:.2f}'}")
    click.echo(f"scored {stats.jobs_scored} (prompt, answer) items, {stats.tokens_scored} tokens in "
               f"{stats.seconds:.1f}s ({rate:.0f} tokens/s)")
    click.echo("selected: " + ", ".join(f"{a.name} {a.weight:+.2f}" for a in
                                          sorted(fitted.selected, key=lambda a: -abs(a.weight))))
    if incremental and report.previous_weights:
        moved = sorted(fitted.attributes, key=lambda a: -abs(a.weight - report.previous_weights.get(a.name, 0.0)))
        click.echo("moved most: " + ", ".join(
            f"{a.name} {report.previous_weights.get(a.name, 0.0):+.2f}->{a.weight:+.2f}" for a in moved[:3]))


@profile.command("fit")
@click.argument("user")
@fit_options
@click.option("--attributes", default=None, metavar="A,B,...|all",
              help="Subset of attributes to fit [default: the profile's set, else all 41].")
@click.option("--add-attribute", "custom", multiple=True, metavar="NAME=PROMPT",
              help="A custom attribute: a system prompt that differs from the base one by a cue. Repeatable.")
@click.option("--top-k", default=None, type=click.IntRange(1), help="Attributes used for decoding [default: 7].")
@click.option("--solver", type=click.Choice(["drift", "bt", "auto"]), default="drift", show_default=True,
              help="drift: closed form d/||d||; bt: regularised Bradley-Terry; auto: best cross-validated.")
@click.option("--max-response-tokens", default=None, type=click.IntRange(1),
              help="Truncate answers to this many tokens when scoring [default: 64].")
def profile_fit(user, pairs_file, model, profiles_dir, attributes, custom, top_k, solver, max_response_tokens):
    """Fit USER's profile from a pairs file (replaces its pairs; cached rewards are reused)."""
    from .attributes import choose_attributes, parse_custom_attributes

    chosen_set = choose_attributes(attributes, parse_custom_attributes(custom))
    run_fit(user, pairs_file, model, profiles_dir, False, attributes=chosen_set, solver=solver,
            top_k_attributes=top_k, max_response_tokens=max_response_tokens)


@profile.command("add")
@click.argument("user")
@fit_options
@click.option("--solver", type=click.Choice(["drift", "bt", "auto"]), default=None,
              help="Solver for the refit [default: the profile's].")
def profile_add(user, pairs_file, model, profiles_dir, solver):
    """Add pairs to USER's profile and refit; only the new pairs are scored."""
    from .profile import ProfileStore

    solver = solver or ProfileStore(profiles_dir).load(user).solver
    run_fit(user, pairs_file, model, profiles_dir, True, solver=solver)


def weight_bars(fitted, width: int = 20) -> list[str]:
    """A terminal bar chart: negative weights grow left, positive right; * marks selected ones."""
    scale = max((abs(a.weight) for a in fitted.attributes), default=1.0) or 1.0
    lines = []
    for a in sorted(fitted.attributes, key=lambda a: -a.weight):
        n = round(abs(a.weight) / scale * width)
        left = ("#" * n).rjust(width) if a.weight < 0 else " " * width
        right = ("#" * n).ljust(width) if a.weight > 0 else " " * width
        lines.append(f"{'*' if a.selected else ' '} {a.name:<16} {left}|{right} {a.weight:+.3f}")
    return lines


@profile.command("show")
@click.argument("user")
@profiles_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
def profile_show(user, profiles_dir, as_json):
    """Show USER's weights as a bar chart (* = used for decoding)."""
    from .profile import ProfileStore

    fitted = ProfileStore(profiles_dir).load(user)
    if as_json:
        echo_json(fitted.to_dict())
        return
    accuracy = "n/a" if fitted.cv_accuracy is None else f"{fitted.cv_accuracy:.2f}"
    click.echo(f"user {fitted.user}: {fitted.n_pairs} pairs, solver {fitted.solver}, cv accuracy {accuracy}, "
               f"top-k {fitted.top_k}, beta {fitted.beta}, sLM {fitted.slm['file_name']}")
    for line in weight_bars(fitted):
        click.echo(line)


@profile.command("list")
@profiles_dir_option
def profile_list(profiles_dir):
    """List the profiles in the profiles folder."""
    from .profile import ProfileStore

    store = ProfileStore(profiles_dir)
    users = store.list()
    if not users:
        click.echo(f"no profiles in {store.root}")
    for user in users:
        try:
            fitted = store.load(user)
            click.echo(f"{user:<20} {fitted.n_pairs:>4} pairs  solver {fitted.solver:<5} "
                       f"updated {fitted.updated_at}")
        except EdgeDriftError as exc:
            click.echo(f"{user:<20} (unreadable: {exc})")


@profile.command("rm")
@click.argument("user")
@profiles_dir_option
def profile_rm(user, profiles_dir):
    """Delete USER's profile, pairs and cached rewards."""
    from .profile import ProfileStore

    ProfileStore(profiles_dir).remove(user)
    click.echo(f"removed {user}")


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
