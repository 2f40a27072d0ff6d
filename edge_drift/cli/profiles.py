"""`edge-drift profile`: fit, add to, show, list and remove per-user preference profiles."""
from __future__ import annotations

import click

from ..errors import EdgeDriftError
from ..profile import DEFAULT_BETA
from ..rewards import DEFAULT_MAX_RESPONSE_TOKENS
from ..screening import RECHECK_EVERY, SCREEN_AFTER_PAIRS, SCREEN_KEEP
from ..solvers import DEFAULT_SOLVER, SOLVERS
from ..weights_chart import weight_bars
from .common import (
    ALL_ATTRIBUTES,
    MODEL_HELP,
    FriendlyGroup,
    Knob,
    add_attribute_option,
    echo_json,
    position_decay_option,
    profiles_dir_option,
    progress_bars,
)


def fit_options(function):
    function = click.option("--model", default="default", show_default=True,
                            help="The sLM that scores attributes. " + MODEL_HELP)(function)
    function = click.option("--pairs", "pairs_file", required=True, type=click.Path(dir_okay=False),
                            help="JSONL: one {prompt, chosen, rejected[, messages, system]} per line.")(function)
    return profiles_dir_option(function)


@click.group(cls=FriendlyGroup)
def profile() -> None:
    """Fit, extend, inspect and remove per-user preference profiles."""


def run_fit(user, pairs_file, model, profiles_dir, incremental, **options):
    from contextlib import ExitStack

    from ..assistant import Assistant
    from ..pairs import read_pairs
    from ..profile import check_user_name

    check_user_name(user)  # before reading or loading anything
    parsed = read_pairs(pairs_file)
    if parsed.duplicate_lines:
        click.echo(f"skipped {len(parsed.duplicate_lines)} duplicate pair(s) at line(s) "
                   f"{', '.join(map(str, parsed.duplicate_lines))}", err=True)
    with ExitStack() as stack, Assistant(model, profiles_dir=profiles_dir) as assistant:
        fit_and_report(assistant, user, parsed.pairs, incremental, stack, **options)


def fit_and_report(assistant, user, pairs, incremental, stack, **options):
    """Fit (or refit with new pairs) and say what came of it: the profile, the work, the weights, what moved."""
    report = assistant.fit(user, pairs, incremental=incremental,
                           progress_factory=progress_bars(stack, "scoring pairs"), **options)
    fitted = report.profile
    stats = report.stats
    rate = stats.tokens_scored / stats.seconds if stats.seconds else 0.0
    click.echo(f"{'updated' if incremental else 'fitted'} {report.path}: {fitted.n_pairs} pairs "
               f"({report.n_new_pairs} new), solver {fitted.solver}, cv accuracy "
               f"{'n/a' if fitted.cv_accuracy is None else f'{fitted.cv_accuracy:.2f}'}")
    click.echo(f"scored {stats.jobs_scored} (prompt, answer) items, {stats.tokens_scored} tokens in "
               f"{stats.seconds:.1f}s ({rate:.0f} tokens/s; {stats.tokens_evaluated} evaluated)")
    screened_out = (fitted.screening or {}).get("screened_out") or {}
    if screened_out:
        click.echo(f"screening: {len(screened_out)} weak attributes scored only on "
                   f"{fitted.screening['fully_scored_pairs']} of {fitted.n_pairs} pairs and left out of the fit")
    click.echo("selected: " + ", ".join(f"{a.name} {a.weight:+.2f}" for a in
                                          sorted(fitted.selected, key=lambda a: -abs(a.weight))))
    if fitted.steers_only_away:
        click.echo("note: every selected weight is negative (no attribute prompt makes the model prefer your "
                   "answers more than the base prompt does), so steering moves away from these styles and stays "
                   "close to plain; an --add-attribute prompt that writes the way you want would give it a direction")
    if incremental and report.previous_weights:
        click.echo(describe_moves(report))
    return report


def describe_moves(report, n: int = 3) -> str:
    """The attributes whose weights moved most in a refit, in words."""
    return "moved most: " + ", ".join(f"{name} {old:+.2f}->{new:+.2f}" for name, old, new in report.moves(n))


@profile.command("fit")
@click.argument("user")
@fit_options
@click.option("--attributes", default=None, metavar="A,B,...|all",
              help=f"Subset of attributes to fit [default: the profile's set, else {ALL_ATTRIBUTES}].")
@add_attribute_option
@click.option("--top-k", default=None, type=click.IntRange(1), help="Attributes used for decoding [default: 7].")
@click.option("--solver", type=click.Choice(SOLVERS), default=DEFAULT_SOLVER, show_default=True,
              help="select: closed form on the top-k most consistent attributes; drift: closed form d/||d|| "
                   "on all; bt: regularised Bradley-Terry; contrast: select over attributes and 'a rather than "
                   "b' pairs; auto: best cross-validated of select, drift, bt.")
@click.option("--screening/--no-screening", default=None,
              help=f"After {SCREEN_AFTER_PAIRS} pairs scored with every attribute, score later pairs only with "
                   f"the {SCREEN_KEEP} strongest (about 3x faster; every {RECHECK_EVERY}th pair is rechecked in full) "
                   f"[default: on, except with --solver bt or contrast, which need every attribute].")
@click.option("--max-response-tokens", default=None, type=click.IntRange(1),
              help=f"Truncate answers to this many tokens when scoring [default: the profile's, else "
                   f"{DEFAULT_MAX_RESPONSE_TOKENS}].")
@position_decay_option(None)
@click.option("--preference", default=None, metavar="TEXT",
              help="The preference in words, kept in the profile for `--strategy pad`.")
@click.option("--beta", type=Knob("beta"), default=None,
              help=f"Drift's steering strength kept in the profile; smaller = stronger [default: the profile's, "
                   f"else {DEFAULT_BETA}].")
def profile_fit(user, pairs_file, model, profiles_dir, attributes, custom, top_k, solver, screening,
                max_response_tokens, position_decay, preference, beta):
    """Fit USER's profile from a pairs file (replaces its pairs; cached rewards are reused)."""
    from ..attributes import choose_attributes, parse_custom_attributes
    from ..screening import NO_SCREENING, ScreeningPlan

    chosen_set = choose_attributes(attributes, parse_custom_attributes(custom))
    plan = None if screening is None else ScreeningPlan() if screening else NO_SCREENING  # None: the solver's default
    run_fit(user, pairs_file, model, profiles_dir, False, attributes=chosen_set, solver=solver,
            screening=plan,
            top_k_attributes=top_k, max_response_tokens=max_response_tokens, position_decay=position_decay,
            preference_text=preference, beta=beta)


@profile.command("add")
@click.argument("user")
@fit_options
@click.option("--solver", type=click.Choice(SOLVERS), default=None,
              help="Solver for the refit [default: the profile's].")
def profile_add(user, pairs_file, model, profiles_dir, solver):
    """Add pairs to USER's profile and refit; only the new pairs are scored."""
    from ..store import ProfileStore

    solver = solver or ProfileStore(profiles_dir).load(user).solver
    run_fit(user, pairs_file, model, profiles_dir, True, solver=solver)


@profile.command("say")
@click.argument("user")
@click.argument("text", required=False)
@click.option("--model", default="default", show_default=True, help="The sLM that scores. " + MODEL_HELP)
@profiles_dir_option
@click.option("--remove", is_flag=True, help="Remove USER's statement (the votes stay).")
def profile_say(user, text, model, profiles_dir, remove):
    """Say how USER likes answers, in a sentence; it steers at once (no votes needed) and votes then weigh it."""
    from contextlib import ExitStack

    from ..assistant import Assistant
    from ..profile import check_user_name

    check_user_name(user)
    if remove == (text is not None):
        raise EdgeDriftError('give the sentence (`profile say USER "Short, plain answers"`) or --remove, not both')
    with ExitStack() as stack, Assistant(model, profiles_dir=profiles_dir) as assistant:
        report = assistant.say(user, None if remove else text,
                               progress_factory=progress_bars(stack, "scoring the statement on your pairs"))
    fitted = report.profile
    said = "removed the statement" if remove else f"statement: {fitted.statement!r}"
    click.echo(f"{user}: {said}; {fitted.n_pairs} pairs, saved {report.path}")
    click.echo("selected: " + ", ".join(f"{a.name} {a.weight:+.2f}" for a in
                                          sorted(fitted.selected, key=lambda a: -abs(a.weight))))


@profile.command("show")
@click.argument("user")
@profiles_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
def profile_show(user, profiles_dir, as_json):
    """Show USER's weights as a bar chart (* = used for decoding)."""
    from ..store import ProfileStore

    fitted = ProfileStore(profiles_dir).load(user)
    if as_json:
        echo_json(fitted.to_dict())
        return
    accuracy = "n/a" if fitted.cv_accuracy is None else f"{fitted.cv_accuracy:.2f}"
    click.echo(f"user {fitted.user}: {fitted.n_pairs} pairs, solver {fitted.solver}, cv accuracy {accuracy}, "
               f"top-k {fitted.top_k}, beta {fitted.beta}, sLM {fitted.slm['file_name']}")
    if fitted.statement:
        click.echo(f"statement: {fitted.statement!r}")
    for line in weight_bars(fitted):
        click.echo(line)


@profile.command("list")
@profiles_dir_option
def profile_list(profiles_dir):
    """List the profiles in the profiles folder."""
    from ..store import ProfileStore

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
    """Delete every file of USER: profile, pairs, votes and cached rewards."""
    from ..store import ProfileStore

    store = ProfileStore(profiles_dir)
    files = store.user_files(user)
    store.remove(user)
    click.echo(f"removed {user} ({len(files)} file(s) in {store.folder(user)})")


@profile.command("export")
@click.argument("user")
@profiles_dir_option
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json", show_default=True,
              help="json: the profile and its pairs in one object; jsonl: the pairs only, DPO-style "
                   "prompt/chosen/rejected lines.")
def profile_export(user, profiles_dir, fmt):
    """Print USER's profile and the pairs it was fitted on (redirect to a file to keep them)."""
    import json

    from ..store import ProfileStore

    exported = ProfileStore(profiles_dir).export(user)
    if fmt == "jsonl":
        for pair in exported["pairs"]:
            click.echo(json.dumps(pair, ensure_ascii=False))
    else:
        echo_json(exported)
