"""Checks of the studies' shared helpers (run by hand: PYTHONPATH=.:research .venv/bin/python -m pytest research)."""
from __future__ import annotations

import numpy as np

from common import distinctive_words, written_prompt


def test_a_written_attribute_names_the_words_that_separate_chosen_from_rejected_answers():
    rng = np.random.default_rng(0)
    filler = [f"topic{i}" for i in range(40)]
    chosen = [f"Moreover, the {' '.join(rng.choice(filler, 3))} is indeed clear." for _ in range(30)]
    rejected = [f"lol the {' '.join(rng.choice(filler, 3))} is fun" for _ in range(30)]
    chosen[0] += " zebra"  # in one chosen answer only: too rare to rank above the consistent cues
    words = distinctive_words(chosen, rejected, 3)
    assert words[:3] == ["clear", "indeed", "moreover"]  # equal z: alphabetical
    everything = distinctive_words(chosen, rejected, 100)
    assert "the" not in everything and "is" not in everything  # in every answer: no separation
    assert "lol" not in everything and everything.index("zebra") > 2  # rejected cues are never asked for
    prompt = written_prompt("You are an AI assistant.", chosen, rejected, 3)
    assert prompt.startswith("You are an AI assistant. ") and "clear, indeed, moreover." in prompt
