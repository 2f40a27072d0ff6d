"""The system-prompt baseline and Best-of-N, which steer without mixing logits."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterator

import numpy as np

from ..decoding import VARIED_SEED, VARIED_TEMPERATURE, Event, Models, PlainStrategy, Request, Strategy
from ..errors import EdgeDriftError
from ..prompts import preference_sentence, system_prompt, with_preference
from ..rewards import Job, LogProbCache, score_job_groups
from .following import ranked_attributes

DEFAULT_SAMPLES = 4  # Best-of-N answers sampled


class PromptStrategy(Strategy):
    """The profile's top attributes written into the LLM's system prompt."""

    name = "prompt"

    def __init__(self, profile, top_attributes: int | None = None):
        self.profile = profile
        self.attributes = ranked_attributes(profile, top_attributes)

    def llm_system(self, base_prompt: str, request: Request) -> str:
        # exactly the attributes info() reports: the selected ones, or the top `top_attributes` when asked
        return with_preference(system_prompt(base_prompt, request.system), preference_sentence(self.attributes))

    def info(self) -> dict:
        return {"strategy": self.name, "attributes": {a.name: a.weight for a in self.attributes}}


def profile_rewards(engine, profile, attributes, request: Request, answers: list[str]) -> np.ndarray:
    """R(x, y) = sum_i w_i [log p(y | s_i, x) - log p(y | s_0, x)] for each answer (batched scoring)."""
    history, prompt = tuple(request.messages[:-1]), request.messages[-1]["content"]
    systems = [system_prompt(profile.base_prompt, request.system)]
    systems += [system_prompt(a.prompt, request.system) for a in attributes]
    jobs = [[Job(s, history, prompt, y) for s in systems] for y in answers]
    cache = LogProbCache(engine.scoring_key, max_response_tokens=engine.llm.n_ctx())
    score_job_groups(engine, [[job for group in jobs for job in group]], cache)
    weights = np.array([a.weight for a in attributes])
    values = np.array([[cache.entries[job.key] for job in group] for group in jobs])
    return (values[:, 1:] - values[:, :1]) @ weights


class BestOfNStrategy(Strategy):
    """Sample N answers from the plain LLM and keep the one the profile's reward ranks highest."""

    name = "best-of-n"

    def __init__(self, profile, samples: int = DEFAULT_SAMPLES, top_attributes: int | None = None):
        if samples < 1:
            raise EdgeDriftError("--samples must be >= 1")
        self.profile, self.samples = profile, samples
        self.attributes = ranked_attributes(profile, top_attributes)
        self.rewards: list[float] = []

    def info(self) -> dict:
        return {"strategy": self.name, "samples": self.samples, "rewards": [round(r, 3) for r in self.rewards],
                "attributes": {a.name: a.weight for a in self.attributes}}

    def stream(self, models: Models, request: Request, base_prompt: str) -> Iterator[Event]:
        start = time.perf_counter()
        settings = request.settings
        temperature = settings.temperature if settings.temperature > 0 else VARIED_TEMPERATURE  # N greedy samples are one
        answers, events = [], []
        for i in range(self.samples):
            seed = (settings.seed if settings.seed is not None else VARIED_SEED) + i
            sample = replace(request, settings=replace(settings, temperature=temperature, seed=seed))
            parts = []
            for event in PlainStrategy().stream(models, sample, base_prompt):
                parts.append(event.text)
                if not event.done:
                    yield Event("")  # no text yet, but a caller may stop here (the server, when its client left)
            answers.append("".join(parts))
            events.append(event)
            if request.past_deadline:
                break  # out of time: choose among the answers sampled so far
        self.rewards = profile_rewards(models.slm, self.profile, self.attributes, request, answers).tolist()
        best = int(np.argmax(self.rewards))
        yield Event(answers[best])
        yield Event("", done=True, n_tokens=events[best].n_tokens, seconds=time.perf_counter() - start,
                    finish_reason=events[best].finish_reason, info={**self.info(), "chosen": best, "answers": answers})
