"""One decoding interface: strategies turn (messages, models, sampling) into a stream of typed events."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from .errors import TokenizerMismatchError
from .prompts import system_prompt, with_system

LogitsProcessor = Callable[[np.ndarray, np.ndarray], np.ndarray]


VARIED_TEMPERATURE = 0.8  # answers meant to differ (A/B rounds, best-of-n samples) are never greedy: this instead
VARIED_SEED = 1234  # best-of-n's first seed when none was given, so a run repeats
COMPARE_MAX_TOKENS = 80  # a compare round's answers: long enough to show a style, short enough to read two


@dataclass(frozen=True)
class SamplingSettings:
    """Every sampling default lives here and nowhere else."""

    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None  # GBNF text

    def completion_kwargs(self) -> dict:
        kwargs = dict(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                      top_k=self.top_k, min_p=self.min_p, repeat_penalty=self.repeat_penalty,
                      seed=self.seed, stop=list(self.stop))
        if self.grammar:
            from llama_cpp import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_string(self.grammar, verbose=False)
        return kwargs


@dataclass
class Event:
    """One streamed piece of an answer; the last event has done=True and the totals."""

    text: str
    done: bool = False
    n_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str | None = None
    info: dict = field(default_factory=dict)
    n_prompt_tokens: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Models:
    """The LLM that writes and the sLM that steers (the same Engine object when they are one file)."""

    llm: object
    slm: object

    @property
    def shared(self) -> bool:
        return self.llm is self.slm


@dataclass
class Request:
    messages: list[dict]  # the conversation so far, ending with the user's turn (no system message)
    system: str | None = None  # the user's own instructions, added after the base prompt
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    cancel: threading.Event | None = None  # set by the caller to stop at the next token (the server's client left)
    deadline: float | None = None  # time.monotonic() after which the answer ends as if max_tokens were reached

    @property
    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


class StopCheck:
    """Ends decoding at the next token once the request is cancelled or past its deadline, whether or not text
    was yielded yet (llama-cpp-python holds back text that may begin a stop string or an unfinished UTF-8
    character). It forces the end-of-generation token: an exception raised here would be swallowed by
    llama.cpp's sampler callback."""

    def __init__(self, request: Request, eos: int):
        self.request, self.eos = request, eos
        self.timed_out = False  # the answer was cut by the deadline: it reports finish_reason "length"

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        cancelled = self.request.cancel is not None and self.request.cancel.is_set()
        if cancelled or self.request.past_deadline:
            self.timed_out = self.timed_out or not cancelled
            scores[:] = -np.inf
            scores[self.eos] = 0.0
        return scores


class TokenCounter:
    """A no-op processor that counts sampling steps (= generated tokens) for any strategy."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self.count += 1
        return scores


class Strategy:
    """A decoding method. Most only supply logits processors and run the shared loop unchanged;
    a strategy may also change the LLM's system prompt or wrap whole generations (Best-of-N)."""

    name = "plain"

    def llm_system(self, base_prompt: str, request: Request) -> str:
        return system_prompt(base_prompt, request.system)

    def llm_messages(self, base_prompt: str, request: Request) -> list[dict]:
        """The chat the LLM answers: this strategy's system prompt, then the conversation."""
        return with_system(self.llm_system(base_prompt, request), request.messages)

    def processors(self, models: Models, request: Request, llm_messages: list[dict]) -> list[LogitsProcessor]:
        return []

    def info(self) -> dict:
        return {"strategy": self.name}

    def stream(self, models: Models, request: Request, base_prompt: str) -> Iterator[Event]:
        """The one decode loop: llama-cpp-python's completion API with this strategy's processors."""
        from llama_cpp import LogitsProcessorList

        messages = self.llm_messages(base_prompt, request)
        prompt = models.llm.chat_tokens(messages)
        counter, check = TokenCounter(), StopCheck(request, models.llm.llm.token_eos())
        processors = [*self.processors(models, request, messages), counter, check]
        start = time.perf_counter()
        finish = None
        for chunk in models.llm.llm.create_completion(prompt=prompt, stream=True,
                                                      logits_processor=LogitsProcessorList(processors),
                                                      **request.settings.completion_kwargs()):
            choice = chunk["choices"][0]
            finish = choice.get("finish_reason") or finish
            if choice["text"]:
                yield Event(choice["text"])
        yield Event("", done=True, n_tokens=counter.count, seconds=time.perf_counter() - start,
                    finish_reason="length" if check.timed_out else finish, info=self.info(), n_prompt_tokens=len(prompt))

    def close(self) -> None:
        """Free native resources a strategy holds (sLM contexts)."""


class PlainStrategy(Strategy):
    """The frozen LLM, unsteered."""

    name = "plain"


def join_events(events: Iterator[Event]) -> tuple[str, Event]:
    """Join a stream: (text, final event)."""
    parts, last = [], None
    for event in events:
        parts.append(event.text)
        last = event
    return "".join(parts), last


def generate_text(models: Models, strategy: Strategy, request: Request, base_prompt: str) -> tuple[str, Event]:
    return join_events(strategy.stream(models, request, base_prompt))


def check_tokenizers(llm, other) -> None:
    """Two models that mix logits must share a tokenizer: same vocabulary size and token texts."""
    if llm is other or llm.path == other.path:
        return
    problem = None
    if llm.n_vocab != other.n_vocab:
        problem = f"vocabulary sizes differ ({llm.n_vocab} vs {other.n_vocab})"
    else:
        for token in np.linspace(0, llm.n_vocab - 1, 256).astype(int):
            a = llm.llm.detokenize([int(token)], special=True)
            b = other.llm.detokenize([int(token)], special=True)
            if a != b:
                problem = f"token {token} is {a!r} in one and {b!r} in the other"
                break
    if problem:
        raise TokenizerMismatchError(
            f"{llm.path.name} and {other.path.name} do not share a tokenizer ({problem}); "
            "pick an sLM from the same family (`edge-drift models list`)"
        )
