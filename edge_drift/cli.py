"""The `edge-drift` command line: a thin click shell over the library (heavy imports stay inside commands)."""
from __future__ import annotations

import json
import os
import sys
import time
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


class LineProgress:
    """Progress for logs (stderr not a terminal): a line with position and ETA every `every` seconds.

    click.progressbar prints only its label when it cannot redraw, so a redirected long job
    would otherwise say nothing until it ends.
    """

    def __init__(self, label: str, total: int, every: float = 30.0):
        self.label, self.total, self.every = label, total, every
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            elapsed = now - self.start
            eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
            click.echo(f"{self.label} {self.done}/{self.total}  elapsed {elapsed:.0f}s  eta {eta:.0f}s",
                       err=True)


def progress_bars(stack, label: str):
    """A factory the library calls with a total; the bar (with ETA, on stderr) closes with the stack."""
    def factory(total: int):
        if not sys.stderr.isatty():
            return LineProgress(label, total).update
        bar = stack.enter_context(click.progressbar(length=total, label=label, show_eta=True, show_pos=True,
                                                    file=sys.stderr))
        return bar.update
    return factory


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


from .weights_chart import weight_bars  # noqa: E402  (tiny, no heavy imports)


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
        report = fit_profile(engine, store, user, parsed.pairs, incremental=incremental,
                             progress_factory=progress_bars(stack, "scoring pairs"), **options)
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
        click.echo(describe_moves(report))


def describe_moves(report, n: int = 3) -> str:
    """The attributes whose weights moved most in a refit."""
    before = report.previous_weights or {}
    moved = sorted(report.profile.attributes, key=lambda a: -abs(a.weight - before.get(a.name, 0.0)))
    return "moved most: " + ", ".join(f"{a.name} {before.get(a.name, 0.0):+.2f}->{a.weight:+.2f}" for a in moved[:n])


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
@click.option("--preference", default=None, metavar="TEXT",
              help="The preference in words, kept in the profile for `--strategy pad`.")
def profile_fit(user, pairs_file, model, profiles_dir, attributes, custom, top_k, solver, max_response_tokens,
                preference):
    """Fit USER's profile from a pairs file (replaces its pairs; cached rewards are reused)."""
    from .attributes import choose_attributes, parse_custom_attributes

    chosen_set = choose_attributes(attributes, parse_custom_attributes(custom))
    run_fit(user, pairs_file, model, profiles_dir, False, attributes=chosen_set, solver=solver,
            top_k_attributes=top_k, max_response_tokens=max_response_tokens, preference_text=preference)


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


# -- generation -------------------------------------------------------------------------------------
def sampling_options(function):
    """Sampler flags; unset ones fall back to SamplingSettings, which owns every default."""
    from .decoding import SamplingSettings

    d = SamplingSettings()
    options = [
        click.option("--max-tokens", type=click.IntRange(1), help=f"Answer length limit [default: {d.max_tokens}]."),
        click.option("--temperature", type=click.FloatRange(0), help=f"0 = greedy [default: {d.temperature}]."),
        click.option("--top-p", type=click.FloatRange(0, 1), help=f"Nucleus sampling [default: {d.top_p}]."),
        click.option("--top-k", "top_k_tokens", type=click.IntRange(0), help=f"Top-k sampling [default: {d.top_k}]."),
        click.option("--min-p", type=click.FloatRange(0, 1), help=f"Min-p sampling [default: {d.min_p}]."),
        click.option("--repeat-penalty", type=click.FloatRange(0), help=f"[default: {d.repeat_penalty}]."),
        click.option("--seed", type=int, help="Sampling seed, for repeatable answers."),
        click.option("--stop", multiple=True, help="Stop string; repeatable."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


SAMPLING_FLAGS = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p",
                  "top_k_tokens": "top_k", "min_p": "min_p", "repeat_penalty": "repeat_penalty", "seed": "seed"}


def settings_from(sampling: dict):
    """The flags the user gave, over SamplingSettings' defaults."""
    from .decoding import SamplingSettings

    given = {field: sampling[flag] for flag, field in SAMPLING_FLAGS.items() if sampling.get(flag) is not None}
    return SamplingSettings(**given, stop=tuple(sampling.get("stop") or ()))


STRATEGY_HELP = """Decoding strategy. drift: attribute logits mixed in (the profile's method);
pad: top-k reranking by a reward model told --preference; panda: reward-guided top-k with a per-step
lambda capped by KL; args: top-k log-prob + guidance x profile reward; best-of-n: --samples answers,
the profile's reward keeps one; prompt: top attributes written into the system prompt; plain: off."""


def steering_options(function):
    from .strategies import STRATEGY_NAMES

    options = [
        click.option("--user", help="Whose profile steers the answer."),
        click.option("--model", default="default", show_default=True, help="The LLM that writes. " + MODEL_HELP),
        click.option("--slm", default=None, help="The sLM that steers (same tokenizer) [default: --model]."),
        click.option("--strategy", type=click.Choice(STRATEGY_NAMES), default="drift", show_default=True,
                     help=STRATEGY_HELP),
        click.option("--beta", type=float, help="drift: strength; larger = closer to plain [default: profile's, 0.5]."),
        click.option("--top-attributes", type=click.IntRange(1), help="Attributes used [default: profile's top-k]."),
        click.option("--no-steer", is_flag=True, help="Turn steering off (plain decoding) to compare."),
        click.option("--system", default=None, help="Your own instructions, added after the base system prompt."),
        click.option("--guidance", type=float, help="pad/args: reward weight w [default: 1.0]."),
        click.option("--candidates", type=click.IntRange(1), default=10, show_default=True,
                     help="pad/args/panda: top-k tokens considered per step."),
        click.option("--samples", type=click.IntRange(1), default=4, show_default=True, help="best-of-n: answers sampled."),
        click.option("--preference", help="pad: the preference in words [default: the profile's, or its top attributes]."),
        click.option("--reward-model", help="pad: a personalized reward model GGUF (same tokenizer) [default: zero-shot]."),
        click.option("--max-kl", type=float, help="panda: KL cap (nats) on each step's steering [default: 0.5]."),
    ]
    for option in reversed(options):
        function = option(function)
    return profiles_dir_option(function)


def open_session_parts(user, model, slm, strategy, beta, top_attributes, no_steer, profiles_dir, system,
                       reward_model=None, **strategy_options):
    """Load the models (once when they are one file), check tokenizers and the profile, build the strategy."""
    from .attributes import load_attribute_set
    from .decoding import Models, check_tokenizers
    from .engine import Engine
    from .models import resolve_model
    from .profile import ProfileStore
    from .strategies import make_strategy

    name = "plain" if no_steer else strategy
    llm = Engine(model)
    same = slm is None or resolve_model(slm) == llm.path
    models = Models(llm, llm if same else Engine(slm))
    check_tokenizers(models.llm, models.slm)
    reward = None
    if reward_model and name == "pad":
        reward = llm if resolve_model(reward_model) == llm.path else Engine(reward_model)
        check_tokenizers(models.llm, reward)
    profile = None
    if user:
        profile = ProfileStore(profiles_dir).load(user, models.slm.identity.to_dict())
    elif name not in ("plain", "pad"):
        raise EdgeDriftError(f"strategy {name!r} needs --user USER (or use --no-steer)")
    chosen = make_strategy(name, profile, beta=beta, top_attributes=top_attributes, reward_model=reward,
                           **strategy_options)
    base = profile.base_prompt if profile else load_attribute_set().base
    return models, chosen, profile, base


def split_options(options: dict) -> tuple[dict, object]:
    """Click's flat keyword arguments into (steering options, SamplingSettings)."""
    sampling = {k: options.pop(k) for k in [*SAMPLING_FLAGS, "stop"] if k in options}
    return options, settings_from(sampling)


@main.command()
@click.argument("prompt", required=False)
@steering_options
@sampling_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of streaming text.")
def generate(prompt, as_json, **options):
    """Answer PROMPT (or stdin with `-`) steered toward USER's profile, streaming to stdout."""
    from .decoding import Request, stream_generation

    if prompt is None or prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise EdgeDriftError("empty prompt; pass PROMPT or pipe text with `-`")
    steering, settings = split_options(options)
    models, chosen, _, base = open_session_parts(**steering)
    request = Request([{"role": "user", "content": prompt}], steering["system"], settings)
    parts, last = [], None
    for event in stream_generation(models, chosen, request, base):
        if not as_json and event.text:
            click.echo(event.text, nl=False)
        parts.append(event.text)
        last = event
    if as_json:
        echo_json({"text": "".join(parts), "n_tokens": last.n_tokens, "tokens_per_s": round(last.tokens_per_s, 2),
                   "finish_reason": last.finish_reason, **last.info})
    else:
        click.echo()


CHAT_HELP = """commands: /ab compare two answers to your last prompt and learn from your choice,
/profile show the weights, /beta X set steering strength, /reset forget the conversation,
/help this text, /quit leave"""


@main.command()
@steering_options
@sampling_options
def chat(**options):
    """Multi-turn terminal chat steered toward USER, with /ab learning (type /help)."""
    from .chat import ChatSession

    steering, settings = split_options(options)
    user, profiles_dir = steering["user"], steering["profiles_dir"]
    models, chosen, profile, base = open_session_parts(**steering)
    session = ChatSession(models, chosen, base, settings, steering["system"])
    click.echo(f"chatting with {models.llm.path.name} as {user or 'nobody'} ({chosen.name}). {CHAT_HELP}")
    while True:
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if not chat_command(line, session, user, profiles_dir):
                break
            continue
        for event in session.send(line):
            if event.info.get("notice"):
                click.echo(f"[{event.info['notice']}]", err=True)
            click.echo(event.text, nl=False)
        click.echo()


def chat_command(line: str, session, user, profiles_dir) -> bool:
    """Run one /command; False means quit. Errors are shown and the chat goes on."""
    command, _, argument = line.partition(" ")
    try:
        if command in ("/quit", "/exit"):
            return False
        if command == "/help":
            click.echo(CHAT_HELP)
        elif command == "/reset":
            session.reset()
            click.echo("conversation cleared")
        elif command == "/beta":
            value = float(argument)
            if not hasattr(session.strategy, "beta"):
                raise EdgeDriftError("/beta applies to the drift strategy only")
            if not value > 0:
                raise EdgeDriftError("beta must be > 0")
            session.strategy.beta = value
            click.echo(f"beta = {value}")
        elif command == "/profile":
            if not hasattr(session.strategy, "profile"):
                raise EdgeDriftError("no profile in use (plain decoding)")
            for text in weight_bars(session.strategy.profile):
                click.echo(text)
        elif command == "/ab":
            ab_round(session, user, profiles_dir)
        else:
            raise EdgeDriftError(f"unknown command {command}; type /help")
    except ValueError:
        click.echo(f"Error: {command} needs a number, e.g. /beta 0.5", err=True)
    except EdgeDriftError as exc:
        click.echo(f"Error: {exc}", err=True)
    return True


def ab_round(session, user, profiles_dir) -> None:
    from .profile import ProfileStore, fit_profile

    if not user:
        raise EdgeDriftError("/ab needs --user USER to learn into")
    candidates = session.candidates()
    click.echo(f"[a] ({candidates.labels[0]}) {candidates.a}\n[b] ({candidates.labels[1]}) {candidates.b}")
    winner = click.prompt("which is better?", type=click.Choice(["a", "b", "s"]), default="s",
                          show_choices=True).lower()
    if winner == "s":
        click.echo("skipped")
        return
    pair = session.pair_from(candidates, winner)
    report = fit_profile(session.models.slm, ProfileStore(profiles_dir), user, [pair], incremental=True)
    if hasattr(session.strategy, "update_profile"):
        session.strategy.update_profile(report.profile)
    click.echo(f"added 1 pair ({report.profile.n_pairs} in all); {describe_moves(report)}")


# -- evaluation -------------------------------------------------------------------------------------
@main.group(name="eval", cls=FriendlyGroup)
def evaluate() -> None:
    """Measure whether personalization works on real data."""


def int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise EdgeDriftError(f"expected comma-separated numbers like 10,25,50, got {text!r}") from None
    if not values or min(values) < 1:
        raise EdgeDriftError(f"expected positive numbers like 10,25,50, got {text!r}")
    return values


@evaluate.command("prefs")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A pairs JSONL file (one user) or a DSP-style JSON file (each domain a user).")
@click.option("--format", "fmt", type=click.Choice(["pairs", "dsp"]), default=None,
              help="[default: dsp for .json, pairs otherwise]")
@click.option("--users", default=None, help="DSP users to evaluate, comma-separated [default: all 4].")
@click.option("--n-train", default="10,25,50,100", show_default=True, help="Training sizes.")
@click.option("--n-test", default=100, show_default=True, type=click.IntRange(1), help="Held-out pairs per user.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(1), help="Random train/test splits.")
@click.option("--attributes", default=None, metavar="A,B,...", help="Attribute subset [default: all 41].")
@click.option("--model", default="default", show_default=True, help="The sLM that scores. " + MODEL_HELP)
@click.option("--max-response-tokens", default=64, show_default=True, type=click.IntRange(1))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Write results.json, results.md, learning_curve.png and the reusable score cache here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with `results`.")
def eval_prefs(data, fmt, users, n_train, n_test, seeds, attributes, model, max_response_tokens, out_dir, as_json):
    """Few-shot preference accuracy: Drift, Bradley-Terry, logistic regression, log-prob, length, chance."""
    from contextlib import ExitStack
    from pathlib import Path

    from .attributes import choose_attributes, load_attribute_set
    from .evaluation import evaluate_prefs, markdown_table, plot_curves
    from .profile import atomic_write

    data = Path(data)
    fmt = fmt or ("dsp" if data.suffix == ".json" else "pairs")
    chosen = choose_attributes(attributes, {}) or load_attribute_set()
    out = Path(out_dir) if out_dir else None
    with ExitStack() as stack, open_engine(model) as engine:
        results = evaluate_prefs(engine, data, fmt, chosen, int_list(n_train), n_test, seeds,
                                 users.split(",") if users else None, out / "cache.json" if out else None,
                                 max_response_tokens, progress_bars(stack, "scoring"))
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
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A pairs JSONL file (one user) or a DSP-style JSON file.")
@click.option("--format", "fmt", type=click.Choice(["pairs", "dsp"]), default=None,
              help="[default: dsp for .json, pairs otherwise]")
@click.option("--user", default=None, help="The user (a DSP domain; default for pairs: the file name).")
@click.option("--strategies", default="drift,pad,panda,args,best-of-n,prompt", show_default=True,
              help="Strategies compared with plain decoding.")
@click.option("--n-prompts", default=10, show_default=True, type=click.IntRange(1), help="Held-out prompts answered.")
@click.option("--n-train", default=50, show_default=True, type=click.IntRange(2), help="Pairs the profile is fitted on.")
@click.option("--attributes", default=None, metavar="A,B,...", help="Attribute subset [default: all 41].")
@click.option("--max-tokens", default=64, show_default=True, type=click.IntRange(1), help="Answer length.")
@click.option("--seed", default=1, show_default=True, type=int, help="Sampling seed.")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--cache", "cache_file", default=None, type=click.Path(dir_okay=False),
              help="Reuse/keep scored log-probs in this JSON file.")
@click.option("--judge-model", default=None, metavar="GGUF",
              help="Also judge with this GGUF chat model, shown 3 of the user's pairs (a different model "
                   "than --model keeps it independent).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_generate(data, fmt, user, strategies, n_prompts, n_train, attributes, max_tokens, seed, model, cache_file,
                  judge_model, as_json):
    """Win rate of each strategy over plain decoding, judged by an independent TF-IDF preference model."""
    from contextlib import ExitStack
    from pathlib import Path

    from .attributes import choose_attributes, load_attribute_set
    from .decoding import SamplingSettings
    from .evaluation import evaluate_generation_on
    from .strategies import STRATEGY_NAMES

    names = [n.strip() for n in strategies.split(",") if n.strip()]
    unknown = [n for n in names if n not in STRATEGY_NAMES or n == "plain"]
    if unknown:
        raise EdgeDriftError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(STRATEGY_NAMES[:-1])}")
    data = Path(data)
    fmt = fmt or ("dsp" if data.suffix == ".json" else "pairs")
    chosen = choose_attributes(attributes, {}) or load_attribute_set()
    settings = SamplingSettings(max_tokens=max_tokens, seed=seed)
    with ExitStack() as stack, open_engine(model) as engine:
        judge_engine = stack.enter_context(open_engine(judge_model)) if judge_model else None
        report = evaluate_generation_on(engine, data, fmt, user, names, n_prompts, n_train, chosen, settings,
                                        Path(cache_file) if cache_file else None,
                                        progress_factory=progress_bars(stack, "generating"),
                                        judge_engine=judge_engine)
    if as_json:
        echo_json(report)
        return
    judge = report["judge"]
    click.echo(f"user {report['user']}: profile from {report['n_train']} pairs (top: {', '.join(report['profile_top'])}); "
               f"judge TF-IDF + logistic BT on {judge['train_pairs']} pairs, held-out accuracy "
               f"{judge['held_out_accuracy']:.2f}")
    echo_win_rates(report["results"])
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


@bench.command("decode")
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@click.option("--tokens", "n_tokens", default=48, show_default=True, help="Tokens generated per measurement.")
@click.option("--all-strategies/--drift-only", default=True, show_default=True,
              help="Also time pad, panda, args, best-of-n, prompt and plain (k = 7 profile).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_decode_command(model: str, n_tokens: int, all_strategies: bool, as_json: bool) -> None:
    """Plain vs Drift decoding (k = 1, 3, 7), the raw llama_decode bound, and every strategy."""
    from .bench import bench_decode

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


# -- demo -----------------------------------------------------------------------------------------
@main.command()
@click.option("--model", default="default", show_default=True, help=MODEL_HELP)
@profiles_dir_option
def demo(model: str, profiles_dir: str | None) -> None:
    """Fit the example user terse_tim, then answer one question plain and steered."""
    from contextlib import ExitStack

    from .demo import run_demo

    with ExitStack() as stack:
        run_demo(model, profiles_dir, click.echo, progress_bars(stack, "   scoring pairs"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
