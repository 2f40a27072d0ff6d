"""`edge-drift demo`: a short tour on the embedded model that shows the engine doing real work."""
from __future__ import annotations

import time
from typing import Callable

from .attributes import attribute_messages, load_attribute_set

DEMO_QUESTION = "How do I make my laptop battery last longer?"
DEMO_ANSWERS = {
    "terse": "Lower screen brightness, close unused apps, enable battery saver, avoid heat.",
    "story": "Picture your battery as a little traveller packing for a long trip: dim the screen like "
             "drawing the curtains, let sleepy apps rest, and keep it cool, and it will walk with you all day.",
}
DEMO_ATTRIBUTES = ["concise", "creative", "analytic", "storyteller", "formal", "humor"]


def attribute_rewards(engine, question: str, answers: dict[str, str], names: list[str]) -> dict[str, dict[str, float]]:
    """r_i(x, y) = log p(y | s_i, x) - log p(y | s_0, x) for each answer, in one batched scoring call."""
    attributes = load_attribute_set()
    chosen = attributes.select([n for n in names if n in attributes.names])
    systems = [attributes.base] + [a.prompt for a in chosen.attributes]
    items, keys = [], []
    for system_index, system in enumerate(systems):
        messages = attribute_messages(system, question)
        prefix = engine.chat_tokens(messages)
        for label, answer in answers.items():
            items.append((prefix, engine.reply_tokens(messages, answer)))
            keys.append((system_index, label))
    with engine.context(min(32, len(items)), 512) as ctx:
        scores = ctx.score(items)
    totals = {key: float(s.sum()) for key, s in zip(keys, scores)}
    return {
        label: {a.name: totals[(i + 1, label)] - totals[(0, label)] for i, a in enumerate(chosen.attributes)}
        for label in answers
    }


def run_demo(model: str, echo: Callable[[str], None]) -> None:
    from .engine import Engine

    with Engine(model) as engine:
        echo(f"model: {engine.path.name} ({engine.identity.size_bytes / 1e6:.0f} MB, "
             f"{engine.n_threads} threads)")
        echo(f"question: {DEMO_QUESTION}")
        for label, answer in DEMO_ANSWERS.items():
            echo(f"  {label:>5}: {answer}")
        start = time.perf_counter()
        rewards = attribute_rewards(engine, DEMO_QUESTION, DEMO_ANSWERS, DEMO_ATTRIBUTES)
        elapsed = time.perf_counter() - start
        names = list(next(iter(rewards.values())))
        echo("\nattribute reward r_i = log p(answer | attribute prompt) - log p(answer | base prompt)")
        echo(f"{'attribute':<12}" + "".join(f"{label:>10}" for label in rewards) + "   prefers")
        for name in names:
            row = [rewards[label][name] for label in rewards]
            best = max(rewards, key=lambda label: rewards[label][name])
            echo(f"{name:<12}" + "".join(f"{value:>10.2f}" for value in row) + f"   {best}")
        echo(f"\nscored {len(rewards) * (len(names) + 1)} (prompt, answer) pairs in {elapsed:.1f}s")
