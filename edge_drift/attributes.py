"""Attributes: differential system prompts (the Drift paper's 41, 7 writing registers, a user's own)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

from .errors import EdgeDriftError
from .prompts import system_prompt

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
STATEMENT = "statement"  # the attribute a user's own sentence becomes (`profile say`)


@dataclass(frozen=True)
class Attribute:
    name: str
    prompt: str


@dataclass(frozen=True)
class AttributeSet:
    """A base system prompt s_0 and attributes s_i that differ from it only by a cue."""

    base: str
    attributes: tuple[Attribute, ...]

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def select(self, names: list[str]) -> "AttributeSet":
        known = {a.name: a for a in self.attributes}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise EdgeDriftError(
                f"unknown attribute(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return AttributeSet(self.base, tuple(known[n] for n in dict.fromkeys(names)))

    def with_custom(self, custom: dict[str, str]) -> "AttributeSet":
        """Add (or override) user attributes given as name -> system prompt."""
        for name, prompt in custom.items():
            if not NAME_PATTERN.match(name):
                raise EdgeDriftError(f"attribute name {name!r} must be lowercase letters, digits or _ (max 40)")
            if not prompt.strip():
                raise EdgeDriftError(f"attribute {name!r} has an empty system prompt")
        merged = {a.name: a for a in self.attributes}
        merged.update({n: Attribute(n, p.strip()) for n, p in custom.items()})
        return AttributeSet(self.base, tuple(merged.values()))

    def with_statement(self, text: str | None) -> "AttributeSet":
        """The set with the user's statement as the attribute `statement` (the base prompt, then the sentence),
        replacing an earlier one; without it when text is None."""
        others = tuple(a for a in self.attributes if a.name != STATEMENT)
        if text is None:
            return AttributeSet(self.base, others)
        return AttributeSet(self.base, others + (Attribute(STATEMENT, system_prompt(self.base, text)),))

    def to_dict(self) -> dict:
        return {"base": self.base, "attributes": [{"name": a.name, "prompt": a.prompt} for a in self.attributes]}

    @classmethod
    def from_dict(cls, data: dict) -> "AttributeSet":
        return cls(data["base"], tuple(Attribute(a["name"], a["prompt"]) for a in data["attributes"]))


def load_attribute_set(registers: bool = True) -> AttributeSet:
    """The default 48: the Drift paper's 41 attributes and base prompt (Table 6) and 7 writing registers.

    The registers (poetic, scholarly, professional, playful, structured, conversational, detailed) name
    styles that none of the 41 does; with them the fit ranks DSP pairs about 0.01 better at every size and
    drift steers the literature user toward verse (docs/RESULTS.md, "Writing registers").
    `registers=False` gives the paper's 41 alone.
    """
    data = json.loads(resources.files("edge_drift").joinpath("data/attributes.json").read_text())
    extra = data["registers"] if registers else []
    return AttributeSet.from_dict({"base": data["base"], "attributes": data["attributes"] + extra})


def parse_custom_attributes(values: tuple[str, ...]) -> dict[str, str]:
    """`NAME=system prompt` strings from the command line to a dict."""
    custom = {}
    for value in values:
        name, sep, prompt = value.partition("=")
        if not sep:
            raise EdgeDriftError(f"--add-attribute needs NAME=PROMPT, got {value!r}")
        custom[name.strip()] = prompt
    return custom


def choose_attributes(only: str | None, custom: dict[str, str]) -> AttributeSet | None:
    """--attributes / --add-attribute to a set; None when neither is given (keep the profile's set).

    `only` is `all` or comma-separated names; custom attributes are always included.
    """
    if not only and not custom:
        return None
    attributes = load_attribute_set().with_custom(custom)
    if only and only != "all":
        names = [n.strip() for n in only.split(",") if n.strip()]
        attributes = attributes.select(names + [n for n in custom if n not in names])
    return attributes











