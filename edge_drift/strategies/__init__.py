"""Decoding strategies on one engine: Drift, PAD, PANDA, ARGS, Best-of-N, prompt and plain, registered by name."""
from __future__ import annotations

import math

from ..decoding import PlainStrategy, Strategy
from ..errors import EdgeDriftError
from .baselines import DEFAULT_SAMPLES, BestOfNStrategy, PromptStrategy, profile_rewards
from .drift import PLAUSIBILITY, DriftMixer, DriftStrategy
from .following import (DEFAULT_CANDIDATES, DEFAULT_GUIDANCE, ProfileStrategy, SequenceFollower, SlmStrategy,
                        log_softmax_at, only, ranked_attributes, sequence_room, top_candidates)
from .guided import ArgsProcessor, ArgsStrategy, PandaProcessor, PandaSchedule, PandaStrategy, TokenReward
from .pad import PadProcessor, PadStrategy, preference_from_profile

__all__ = ["DEFAULT_STRATEGY", "DEFAULT_CANDIDATES", "DEFAULT_GUIDANCE", "DEFAULT_SAMPLES", "STRATEGY_NAMES", "KNOB_RULES",
           "check_knob", "make_strategy", "ArgsProcessor", "ArgsStrategy", "BestOfNStrategy", "DriftMixer",
           "DriftStrategy", "PLAUSIBILITY", "PadProcessor", "PadStrategy", "PandaProcessor", "PandaSchedule",
           "PandaStrategy", "PlainStrategy", "ProfileStrategy", "PromptStrategy", "SequenceFollower",
           "SlmStrategy", "TokenReward", "log_softmax_at", "only", "preference_from_profile", "profile_rewards",
           "ranked_attributes", "sequence_room", "top_candidates"]


STRATEGY_NAMES = ("drift", "pad", "panda", "args", "best-of-n", "prompt", "plain")
DEFAULT_STRATEGY = "drift"  # the strongest by both judges (docs/RESULTS.md); the CLI, server and page read it here


# Every numeric knob of every strategy: (lowest allowed, whether the bound itself is allowed, what it means).
KNOB_RULES = {
    "beta": (0.0, False, "drift's strength (larger = closer to plain)"),
    "guidance": (0.0, True, "pad/args reward weight"),
    "max_kl": (0.0, False, "panda's KL cap in nats"),
    "candidates": (1, True, "top-k tokens considered per step"),
    "samples": (1, True, "best-of-n answers sampled"),
    "top_attributes": (1, True, "attributes used for steering"),
    "top_k": (1, True, "attributes a fitted profile keeps for steering"),
}


def check_knob(name: str, value) -> None:
    """One rule per knob, used by the library, the CLI (at parse time) and the server alike."""
    low, inclusive, meaning = KNOB_RULES[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        (value >= low if inclusive else value > low)
    if ok and isinstance(low, int) and not float(value).is_integer():
        ok = False
    if not ok:
        bound = f">= {low}" if inclusive else f"> {low}"
        raise EdgeDriftError(f"--{name.replace('_', '-')} must be a number {bound} ({meaning}), got {value!r}")


def make_strategy(name: str, profile=None, *, beta: float | None = None, top_attributes: int | None = None,
                  guidance: float | None = None, candidates: int = DEFAULT_CANDIDATES,
                  samples: int = DEFAULT_SAMPLES,
                  preference: str | None = None, reward_model=None, max_kl: float | None = None) -> Strategy:
    """Build a strategy by name with its options; an unknown name lists the valid ones, a bad number says why."""
    if name not in STRATEGY_NAMES:
        raise EdgeDriftError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    knobs = {"beta": beta, "top_attributes": top_attributes, "guidance": guidance, "candidates": candidates,
             "samples": samples, "max_kl": max_kl}
    for knob, value in knobs.items():
        if value is not None:
            check_knob(knob, value)
    if name == "plain":
        return PlainStrategy()
    if name == "pad":
        written = preference or getattr(profile, "preference_text", None)
        if top_attributes is not None and (written or profile is None):
            raise EdgeDriftError("--top-attributes picks the profile attributes that pad writes into its preference; "
                                 "with a written preference (--preference, or the profile's) it would do nothing")
        text = preference or (preference_from_profile(profile, top_attributes) if profile else None)
        return PadStrategy(text, reward_model, DEFAULT_GUIDANCE if guidance is None else guidance, candidates)
    if profile is None:
        raise EdgeDriftError(f"strategy {name!r} needs a profile: pass --user USER")
    if name == "drift":
        return DriftStrategy(profile, beta, top_attributes)
    if name == "args":
        return ArgsStrategy(profile, DEFAULT_GUIDANCE if guidance is None else guidance, candidates, top_attributes)
    if name == "panda":
        schedule = PandaSchedule() if max_kl is None else PandaSchedule(max_kl=max_kl)
        return PandaStrategy(profile, candidates, schedule, top_attributes)
    if name == "best-of-n":
        return BestOfNStrategy(profile, samples, top_attributes)
    return PromptStrategy(profile, top_attributes)
