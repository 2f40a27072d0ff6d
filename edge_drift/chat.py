"""A multi-turn chat session over any strategy, with context trimming and live A/B learning."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

from .decoding import Event, Models, PlainStrategy, Request, SamplingSettings, Strategy, generate_text, stream_generation
from .errors import EdgeDriftError
from .pairs import Pair
from .rewards import system_prompt

CONTEXT_MARGIN = 64  # attribute system prompts are a few tokens longer than the LLM's


@dataclass
class Candidates:
    prompt: str
    history: list[dict]
    a: str
    b: str
    labels: tuple[str, str]


class ChatSession:
    """Keeps the conversation; the LLM's and the strategy's KV caches persist across turns."""

    def __init__(self, models: Models, strategy: Strategy, base_prompt: str,
                 settings: SamplingSettings | None = None, system: str | None = None):
        self.models = models
        self.strategy = strategy
        self.base_prompt = base_prompt
        self.settings = settings or SamplingSettings()
        self.system = system
        self.messages: list[dict] = []

    def reset(self) -> None:
        self.messages = []

    def _request(self, messages: list[dict], settings: SamplingSettings | None = None) -> Request:
        return Request(messages, self.system, settings or self.settings)

    def trim(self, messages: list[dict]) -> tuple[list[dict], int]:
        """Drop the oldest turns until the prompt and the answer fit the LLM's context."""
        budget = self.models.llm.llm.n_ctx() - self.settings.max_tokens - CONTEXT_MARGIN
        dropped = 0
        system = {"role": "system", "content": system_prompt(self.base_prompt, self.system)}
        while len(self.models.llm.chat_tokens([system, *messages])) > budget:
            if len(messages) <= 1:
                raise EdgeDriftError(
                    "this message alone does not fit the model's context; shorten it or lower --max-tokens"
                )
            messages = messages[2:] if len(messages) > 2 else messages[1:]
            dropped += 1
        return messages, dropped

    def send(self, text: str) -> Iterator[Event]:
        """Stream the answer to a new user message; a first event with a notice says if turns were dropped."""
        messages, dropped = self.trim([*self.messages, {"role": "user", "content": text}])
        if dropped:
            yield Event("", info={"notice": f"dropped the {dropped} oldest turn(s) to fit the context"})
        parts = []
        for event in stream_generation(self.models, self.strategy, self._request(messages), self.base_prompt):
            parts.append(event.text)
            yield event
        self.messages = [*messages, {"role": "assistant", "content": "".join(parts)}]

    def candidates(self) -> Candidates:
        """Two answers to the last prompt: the strategy's and plain decoding's (same sampler settings)."""
        if len(self.messages) < 2:
            raise EdgeDriftError("nothing to compare yet: send a message first, then /ab")
        history, prompt = self.messages[:-2], self.messages[-2]["content"]
        request = self._request([*history, {"role": "user", "content": prompt}])
        steered, _ = generate_text(self.models, self.strategy, request, self.base_prompt)
        plain, _ = generate_text(self.models, PlainStrategy(), request, self.base_prompt)
        if steered.strip() == plain.strip():  # identical answers teach nothing: sample a different one
            seed = (self.settings.seed or 0) + 1
            alt = self._request(request.messages, replace(self.settings, seed=seed, temperature=max(0.8, self.settings.temperature)))
            plain, _ = generate_text(self.models, PlainStrategy(), alt, self.base_prompt)
        return Candidates(prompt, history, steered, plain, (self.strategy.name, "plain"))

    def pair_from(self, candidates: Candidates, winner: str) -> Pair:
        chosen, rejected = (candidates.a, candidates.b) if winner == "a" else (candidates.b, candidates.a)
        return Pair(candidates.prompt, chosen, rejected, tuple(candidates.history), self.system)
