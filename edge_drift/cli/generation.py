"""`edge-drift generate` and `edge-drift chat`: steered decoding from the terminal."""
from __future__ import annotations

import sys

import click

from ..errors import EdgeDriftError
from ..profile import DEFAULT_BETA
from ..weights_chart import weight_bars
from .common import MODEL_HELP, Knob, echo_json, profiles_dir_option
from .profiles import describe_moves


def sampling_options(function):
    """Sampler flags; unset ones fall back to SamplingSettings, which owns every default."""
    from ..decoding import SamplingSettings

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
    from ..decoding import SamplingSettings

    given = {field: sampling[flag] for flag, field in SAMPLING_FLAGS.items() if sampling.get(flag) is not None}
    return SamplingSettings(**given, stop=tuple(sampling.get("stop") or ()))


STRATEGY_HELP = """Decoding strategy. drift: attribute logits mixed in (the profile's method);
pad: top-k reranking by a reward model told --preference; panda: reward-guided top-k with a per-step
lambda capped by KL; args: top-k log-prob + guidance x profile reward; best-of-n: --samples answers,
the profile's reward keeps one; prompt: top attributes written into the system prompt; plain: off."""


def steering_options(function):
    from ..strategies import (DEFAULT_CANDIDATES, DEFAULT_GUIDANCE, DEFAULT_SAMPLES, DEFAULT_STRATEGY, STRATEGY_NAMES,
                               PandaSchedule)

    options = [
        click.option("--user", help="Whose profile steers the answer."),
        click.option("--model", default="default", show_default=True, help="The LLM that writes. " + MODEL_HELP),
        click.option("--slm", default=None, help="The sLM that steers (same tokenizer) [default: --model]."),
        click.option("--strategy", type=click.Choice(STRATEGY_NAMES), default=DEFAULT_STRATEGY, show_default=True,
                     help=STRATEGY_HELP),
        click.option("--beta", type=Knob("beta"), help=f"drift: strength; larger = closer to plain [default: profile's, {DEFAULT_BETA}]."),
        click.option("--top-attributes", type=Knob("top_attributes", integer=True), help="Attributes used [default: profile's top-k]."),
        click.option("--no-steer", is_flag=True, help="Turn steering off (plain decoding) to compare."),
        click.option("--system", default=None, help="Your own instructions, added after the base system prompt."),
        click.option("--guidance", type=Knob("guidance"), help=f"pad/args: reward weight w [default: {DEFAULT_GUIDANCE}]."),
        click.option("--candidates", type=Knob("candidates", integer=True), default=DEFAULT_CANDIDATES, show_default=True,
                     help="pad/args/panda: top-k tokens considered per step."),
        click.option("--samples", type=Knob("samples", integer=True), default=DEFAULT_SAMPLES, show_default=True,
                     help="best-of-n: answers sampled."),
        click.option("--preference", help="pad: the preference in words [default: the profile's, or its top attributes]."),
        click.option("--reward-model", help="pad: a personalized reward model GGUF (same tokenizer) [default: zero-shot]."),
        click.option("--max-kl", type=Knob("max_kl"), help=f"panda: KL cap (nats) on each step's steering [default: {PandaSchedule().max_kl}]."),
    ]
    for option in reversed(options):
        function = option(function)
    return profiles_dir_option(function)


STRATEGY_KNOBS = ("beta", "top_attributes", "guidance", "candidates", "samples", "preference", "max_kl")


def open_assistant(user, model, slm, reward_model, profiles_dir, strategy):
    """Check the cheap things first (user name), then load the models once through the library facade."""
    from ..assistant import Assistant
    from ..profile import check_user_name

    if user:
        check_user_name(user)
    return Assistant(model, slm=slm, reward_model=reward_model if strategy == "pad" else None,
                     profiles_dir=profiles_dir)


def split_options(options: dict) -> tuple[dict, dict, object]:
    """Click's flat keyword arguments into (session options, strategy knobs, SamplingSettings)."""
    sampling = {k: options.pop(k) for k in [*SAMPLING_FLAGS, "stop"] if k in options}
    knobs = {k: options.pop(k) for k in STRATEGY_KNOBS}
    if options.pop("no_steer"):
        options["strategy"] = "plain"
    return options, knobs, settings_from(sampling)


@click.command()
@click.argument("prompt", required=False)
@steering_options
@sampling_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of streaming text.")
def generate(prompt, as_json, **options):
    """Answer PROMPT (or stdin with `-`) steered toward USER's profile, streaming to stdout."""
    if prompt is None or prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise EdgeDriftError("empty prompt; pass PROMPT or pipe text with `-`")
    session, knobs, settings = split_options(options)
    with open_assistant(session["user"], session["model"], session["slm"], session["reward_model"],
                        session["profiles_dir"], session["strategy"]) as assistant:
        stream_answer(assistant, prompt, as_json, session, knobs, settings)


def stream_answer(assistant, prompt, as_json, session, knobs, settings) -> None:
    events = assistant.stream([{"role": "user", "content": prompt}], user=session["user"],
                              strategy=session["strategy"], system=session["system"], settings=settings, **knobs)
    parts, last = [], None
    for event in events:
        if not as_json and event.text:
            click.echo(event.text, nl=False)
        parts.append(event.text)
        last = event
    if as_json:
        echo_json({"text": "".join(parts), "n_tokens": last.n_tokens, "n_prompt_tokens": last.n_prompt_tokens,
                   "tokens_per_s": round(last.tokens_per_s, 2), "finish_reason": last.finish_reason, **last.info})
    else:
        click.echo()


CHAT_HELP = """commands: /ab compare two answers to your last prompt, leaning opposite ways on what your profile is
least sure of, and learn from your choice (/ab plain: your profile's answer vs plain),
/say TEXT how you like answers (steers at once; votes then weigh it), /profile show the weights,
/beta X set steering strength, /reset forget the conversation, /help this text, /quit leave"""


@click.command()
@steering_options
@sampling_options
def chat(**options):
    """Multi-turn terminal chat steered toward USER, with /ab learning (type /help)."""
    from ..chat import ChatSession

    session, knobs, settings = split_options(options)
    user = session["user"]
    with open_assistant(user, session["model"], session["slm"], session["reward_model"], session["profiles_dir"],
                        session["strategy"]) as assistant:
        chat_session = ChatSession(assistant, user, session["strategy"], settings, session["system"], **knobs)
        click.echo(f"chatting with {assistant.llm.path.name} as {user or 'nobody'} ({session['strategy']}). "
                   f"{CHAT_HELP}")
        if user and assistant.profile(user) is None:
            click.echo(f"{user} has no profile yet: answers are plain until you /say how you like answers "
                       "or vote with /ab")
        chat_loop(chat_session)


def chat_loop(session) -> None:
    while True:
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if not chat_command(line, session):
                break
            continue
        for event in session.send(line):
            if event.info.get("notice"):
                click.echo(f"[{event.info['notice']}]", err=True)
            click.echo(event.text, nl=False)
        click.echo()


def chat_command(line: str, session) -> bool:
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
            from ..strategies import check_knob

            try:
                value = float(argument)
            except ValueError:  # only this parse: any other ValueError is a real error, not a typo
                raise EdgeDriftError("/beta needs a number, e.g. /beta 0.5") from None
            if session.strategy != "drift":
                raise EdgeDriftError("/beta applies to the drift strategy only")
            check_knob("beta", value)
            session.options["beta"] = value
            click.echo(f"beta = {value}")
        elif command == "/profile":
            fitted = session.assistant.profile(session.user) if session.user else None
            if fitted is None:
                raise EdgeDriftError("no profile in use (plain decoding)")
            for text in weight_bars(fitted):
                click.echo(text)
        elif command == "/ab":
            ab_round(session, informative=argument.strip() != "plain")
        elif command == "/say":
            if not argument.strip():
                raise EdgeDriftError('/say needs a sentence, e.g. /say Short, plain answers without jargon')
            report = session.say(argument)
            click.echo(f"statement saved ({report.profile.n_pairs} pairs); answers now steer with it")
        else:
            raise EdgeDriftError(f"unknown command {command}; type /help")
    except EdgeDriftError as exc:
        click.echo(f"Error: {exc}", err=True)
    return True


def ab_round(session, informative: bool = True) -> None:
    """Blind A/B: two answers in random order; what wrote each is shown only after the vote."""
    if not session.user:
        raise EdgeDriftError("/ab needs --user USER to learn into")
    candidates = session.candidates(informative)
    click.echo(f"[a] {candidates.a}\n[b] {candidates.b}")
    winner = click.prompt("which is better?", type=click.Choice(["a", "b", "s"]), default="s",
                          show_choices=True).lower()
    click.echo(f"(a was {candidates.labels[0]}, b was {candidates.labels[1]})"
               + (f"; this one was about: {candidates.about}" if candidates.about else ""))
    if winner == "s":
        click.echo("skipped")
        return
    report = session.learn(candidates, winner)
    click.echo(f"added 1 pair ({report.profile.n_pairs} in all); {describe_moves(report)}")
