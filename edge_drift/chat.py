"""A multi-turn chat session over the Assistant, with context trimming and blind A/B learning."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Iterator

from .decoding import VARIED_TEMPERATURE, Event, SamplingSettings
from .errors import EdgeDriftError
from .pairs import Pair
from .fitting import FitReport
from .strategies import DEFAULT_STRATEGY


@dataclass
class Candidates:
    """Two answers to one prompt in random order; `labels` (which strategy wrote each) stay hidden until the vote."""

    prompt: str
    history: list[dict]
    a: str
    b: str
    labels: tuple[str, str]
    about: str | None = None  # what an informative round asked ("more concise vs less concise")


class ChatSession:
    """Keeps the conversation; the Assistant keeps the LLM's and the strategy's KV caches warm across turns."""

    def __init__(self, assistant, user: str | None = None, strategy: str = DEFAULT_STRATEGY,
                 settings: SamplingSettings | None = None, system: str | None = None,
                 rng: random.Random | None = None, **options):
        self.assistant = assistant
        self.user = user
        self.strategy = strategy
        self.options = options  # beta, top_attributes, guidance, ...: what make_strategy takes
        self.settings = settings or SamplingSettings()
        self.system = system
        self.rng = rng or random.Random()
        self.messages: list[dict] = []
        # fail now (bad option, no user for a steering strategy), not at the first turn; a user without a profile
        # yet chats plainly until they /say how they like answers or vote
        if user is None or assistant.profile(user) is not None:
            assistant.steering(user, strategy, **options)

    def reset(self) -> None:
        self.messages = []

    def _stream(self, messages: list[dict], strategy: str | None = None, settings: SamplingSettings | None = None,
                trim: bool = True, **extra) -> Iterator[Event]:
        options = {**(self.options if (strategy or self.strategy) == self.strategy else {}), **extra}
        return self.assistant.stream(messages, user=self.user, strategy=strategy or self.strategy,
                                     system=self.system, settings=settings or self.settings, trim=trim,
                                     fallback_to_plain=self.user is not None, **options)

    def send(self, text: str) -> Iterator[Event]:
        """Stream the answer to a new user message; a first event with a notice says if turns were dropped."""
        messages = [*self.messages, {"role": "user", "content": text}]
        prepared = self.assistant.prepare(messages, user=self.user, strategy=self.strategy, system=self.system,
                                          settings=self.settings, trim=True, fallback_to_plain=self.user is not None,
                                          **self.options)
        parts = []
        for event in self.assistant.run(prepared):
            parts.append(event.text)
            yield event
        self.messages = [*prepared.request.messages, {"role": "assistant", "content": "".join(parts)}]

    def _answer(self, messages: list[dict], strategy: str, settings: SamplingSettings | None = None,
                **extra) -> str:
        return "".join(event.text for event in self._stream(messages, strategy, settings, **extra))

    def candidates(self, informative: bool = True) -> Candidates:
        """Two answers to the last prompt in random order. Informative (the default: research, "Which question to
        ask"): both steered, one leaning toward and one away from the attribute the profile is least sure of;
        otherwise the strategy's answer and plain decoding's."""
        if len(self.messages) < 2:
            raise EdgeDriftError("nothing to compare yet: send a message first, then /ab")
        history, prompt = self.messages[:-2], self.messages[-2]["content"]
        messages = [*history, {"role": "user", "content": prompt}]
        if informative:
            if not self.user:
                raise EdgeDriftError("/ab needs --user USER to learn into")
            question = self.assistant.question(self.user)
            strategy = self.strategy if self.strategy != "plain" else "drift"
            answers = [(self._answer(messages, strategy, lean=f"{sign}{question.attribute}"),
                        f"{word} {question.attribute}") for sign, word in (("+", "more"), ("-", "less"))]
            self.rng.shuffle(answers)
            (a, label_a), (b, label_b) = answers
            return Candidates(prompt, history, a, b, (label_a, label_b), question.about())
        steered = self._answer(messages, self.strategy)
        plain = self._answer(messages, "plain")
        if steered.strip() == plain.strip():  # identical answers teach nothing: sample a different one
            seed = (self.settings.seed or 0) + 1
            plain = self._answer(messages, "plain", replace(self.settings, seed=seed,
                                                            temperature=max(VARIED_TEMPERATURE, self.settings.temperature)))
        answers = [(steered, self.strategy), (plain, "plain")]
        self.rng.shuffle(answers)
        (a, label_a), (b, label_b) = answers
        return Candidates(prompt, history, a, b, (label_a, label_b))

    def pair_from(self, candidates: Candidates, winner: str) -> Pair:
        chosen, rejected = (candidates.a, candidates.b) if winner == "a" else (candidates.b, candidates.a)
        return Pair(candidates.prompt, chosen, rejected, tuple(candidates.history), self.system)

    def say(self, text: str) -> FitReport:
        """How the user likes answers, in their words: steers the next answer (see Assistant.say)."""
        if not self.user:
            raise EdgeDriftError("/say needs --user USER to keep the statement in")
        return self.assistant.say(self.user, text)

    def learn(self, candidates: Candidates, winner: str) -> FitReport:
        """Fit the vote into the user's profile; the next answer is steered by the new weights."""
        if not self.user:
            raise EdgeDriftError("/ab needs --user USER to learn into")
        return self.assistant.feedback(self.user, self.pair_from(candidates, winner))
