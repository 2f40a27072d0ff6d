"""Helpers shared by the decoding and strategy tests."""
from __future__ import annotations

import numpy as np

from edge_drift.attributes import load_attribute_set
from edge_drift.decoding import Strategy
from edge_drift.profile import AttributeStat, Profile

ATTRS = {a.name: a for a in load_attribute_set().attributes}
BASE = load_attribute_set().base


def make_profile(engine, weights: dict[str, float], user: str = "dee") -> Profile:
    stats = [AttributeStat(n, ATTRS[n].prompt, w, 0.0, True) for n, w in weights.items()]
    return Profile(user=user, slm=engine.identity.to_dict(), base_prompt=BASE, attributes=stats,
                   solver="drift", n_pairs=1, cv_accuracy=None, top_k=len(stats))


class Recording(Strategy):
    """Wraps a strategy and records what the sampler receives before and after its processors."""

    def __init__(self, inner):
        self.inner, self.name, self.steps, self.before = inner, inner.name, [], []

    def llm_system(self, base_prompt, request):
        return self.inner.llm_system(base_prompt, request)

    def processors(self, models, request, messages):
        def record_before(input_ids, scores):
            self.before.append(np.array(scores))
            return scores

        def record(input_ids, scores):
            self.steps.append((np.array(input_ids), np.array(scores)))
            return scores
        self.before = []
        return [record_before, *self.inner.processors(models, request, messages), record]

    def info(self):
        return self.inner.info()


# Story-style answers beat terse ones: a style a judge or a profile can learn from a few pairs.
STORY_PAIRS = [(f"Question number {i} about {topic}?", f"Once upon a time, {topic} was a gentle friend to everyone {i}.",
                f"{topic.capitalize()}: see manual section {i}.")
               for i, topic in enumerate(["rivers", "bread", "stars", "trains", "cats", "rain", "maps", "tea",
                                          "boats", "clocks", "bees", "snow", "kites", "lamps"])]
