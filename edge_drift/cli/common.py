"""Shared pieces of the command line: one-line errors, progress, JSON output, engine opening."""
from __future__ import annotations

import json
import os
import sys
import time
import traceback

import click

from ..attributes import load_attribute_set
from ..errors import EdgeDriftError
from ..rewards import DEFAULT_MAX_RESPONSE_TOKENS, DEFAULT_POSITION_DECAY

MODEL_HELP = "GGUF path, `default` (embedded SmolLM2-135M), or OWNER/REPO/FILE.gguf pulled earlier."
# help text names the shipped default set, counted from its data file so the two cannot disagree
ALL_ATTRIBUTES = f"all {len(load_attribute_set().attributes)}"


class Knob(click.ParamType):
    """A strategy number checked when the command line is parsed (nan, inf and out-of-range values refused)."""

    def __init__(self, knob: str, integer: bool = False):
        self.knob, self.integer = knob, integer
        self.name = "integer" if integer else "number"

    def convert(self, value, param, ctx):
        from ..strategies import check_knob

        try:
            number = int(value) if self.integer else float(value)
            check_knob(self.knob, number)
        except (ValueError, EdgeDriftError) as exc:
            self.fail(str(exc) if isinstance(exc, EdgeDriftError) else f"{value!r} is not a number", param, ctx)
        return number


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
        except BrokenPipeError:  # `edge-drift profile export u | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            ctx.exit(1)
        except OSError as exc:  # a folder or file the user pointed at that cannot be read or written
            if os.environ.get("EDGE_DRIFT_DEBUG"):
                traceback.print_exc()
            where = f" {exc.filename}" if exc.filename else ""
            click.echo(f"Error: cannot use{where}: {exc.strerror or exc}; check that it exists and that you may "
                       "read and write it (or pass another --profiles-dir / --model)", err=True)
            ctx.exit(1)


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
    """A factory the library calls with a total (and optionally its own label); the bar, with ETA on
    stderr, closes with the stack."""
    def factory(total: int, what: str | None = None):
        if not sys.stderr.isatty():
            return LineProgress(what or label, total).update
        bar = stack.enter_context(click.progressbar(length=total, label=what or label, show_eta=True,
                                                    show_pos=True, file=sys.stderr))
        return bar.update
    return factory


def open_engine(model: str):
    from ..engine import Engine

    return Engine(model)


def profiles_dir_option(function):
    return click.option("--profiles-dir", default=None, metavar="DIR",
                        help="Profiles folder [default: $EDGE_DRIFT_PROFILES, else the data folder's profiles/; `edge-drift data` shows it].")(function)



def int_list(text: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise EdgeDriftError(f"expected comma-separated numbers like 10,25,50, got {text!r}") from None
    if not values or min(values) < minimum:
        raise EdgeDriftError(f"expected numbers >= {minimum} like 10,25,50, got {text!r}")
    return values


def read_statements(path) -> dict[str, str]:
    """--statements: a JSON object of user -> sentence (keys starting with _ are comments)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdgeDriftError(f"{path} is not JSON ({exc}); write {{\"user\": \"how they like answers\"}}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) and v.strip() for v in data.values()):
        raise EdgeDriftError(f"{path} must map each user to a sentence: {{\"user\": \"how they like answers\"}}")
    return {user: text for user, text in data.items() if not user.startswith("_")}


def add_attribute_option(function):
    return click.option("--add-attribute", "custom", multiple=True, metavar="NAME=PROMPT",
                        help="A custom attribute: a system prompt that differs from the base one by a cue. "
                             "Repeatable.")(function)


def attribute_options(function):
    """--attributes (a subset of the default set) and --add-attribute (the user's own), as `eval` takes them."""
    function = add_attribute_option(function)
    return click.option("--attributes", default=None, metavar="A,B,...",
                        help=f"Attribute subset [default: {ALL_ATTRIBUTES}].")(function)


def position_decay_option(default: float | None = DEFAULT_POSITION_DECAY):
    """--position-decay: answer token t counts DECAY**t when scoring (None: a profile keeps its own)."""
    shown = f"the profile's, else {DEFAULT_POSITION_DECAY}" if default is None else str(default)
    return click.option("--position-decay", default=default, type=click.FloatRange(0, 1, min_open=True),
                        metavar="DECAY", help=f"Weigh answer token t by DECAY**t when scoring; 1 is a plain sum "
                        f"(scores cached with another decay are not reused) [default: {shown}].")


def max_response_tokens_option(function):
    return click.option("--max-response-tokens", default=DEFAULT_MAX_RESPONSE_TOKENS, show_default=True,
                        type=click.IntRange(1), help="Truncate answers to this many tokens when scoring "
                        "(scores cached at another length are not reused).")(function)
