"""Prompt assembly, in one place: the system text each model sees and the chat it is put in front of."""
from __future__ import annotations

from typing import Sequence


def system_prompt(cue: str, instructions: str | None) -> str:
    """A cue (the base prompt or an attribute's prompt) first, then the user's own instructions; the same
    instructions follow every cue, so attribute and base prompts differ only by their cue."""
    return cue if not instructions else f"{cue} {instructions}"


def with_system(system: str, messages: Sequence[dict]) -> list[dict]:
    """A chat under a system prompt: the one place a system turn is put before the conversation."""
    return [{"role": "system", "content": system}, *messages]


def attribute_messages(system: str, prompt: str, history: Sequence[dict] | None = None) -> list[dict]:
    """The chat an answer is scored in: a system prompt, earlier turns, then the user's prompt."""
    return with_system(system, [*(history or []), {"role": "user", "content": prompt}])


def preference_sentence(attributes) -> str:
    """"The user prefers answers that are a, b; not c." from weighted attributes, strongest first."""
    likes = [a.name.replace("_", " ") for a in attributes if a.weight > 0]
    dislikes = [a.name.replace("_", " ") for a in attributes if a.weight < 0]
    parts = []
    if likes:
        parts.append("answers that are " + ", ".join(likes))
    if dislikes:
        parts.append("not " + ", ".join(dislikes))
    return "The user prefers " + "; ".join(parts) + "." if parts else "The user has no stated preference."


def with_preference(system: str, preference: str) -> str:
    """A system prompt with a written preference after it (the prompt baseline, PAD's reward model)."""
    return f"{system} {preference}"
