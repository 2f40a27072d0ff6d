"""One decoding interface: strategies turn (messages, models, profile, sampling) into a stream of events."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from .errors import EdgeDriftError, TokenizerMismatchError
from .rewards import system_prompt

LogitsProcessor = Callable[[np.ndarray, np.ndarray], np.ndarray]


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


class Strategy(Protocol):
    """A decoding method: builds what the sampler needs for one request; the shared loop runs it."""

    name: str

    def processors(self, models: Models, request: Request, llm_messages: list[dict]) -> list[LogitsProcessor]:
        ...

    def info(self) -> dict:
        ...


def llm_messages(request: Request, base_prompt: str) -> list[dict]:
    """What the LLM sees: the base prompt (+ the user's instructions) as system, then the chat."""
    return [{"role": "system", "content": system_prompt(base_prompt, request.system)}, *request.messages]


class TokenCounter:
    """A no-op processor that counts sampling steps (= generated tokens) for any strategy."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self.count += 1
        return scores


def stream_generation(models: Models, strategy: Strategy, request: Request, base_prompt: str) -> Iterator[Event]:
    """The one decode loop: llama-cpp-python's completion API with the strategy's processors."""
    from llama_cpp import LogitsProcessorList

    messages = llm_messages(request, base_prompt)
    prompt = models.llm.chat_tokens(messages)
    counter = TokenCounter()
    processors = [*strategy.processors(models, request, messages), counter]
    start = time.perf_counter()
    finish = None
    stream = models.llm.llm.create_completion(prompt=prompt, stream=True,
                                              logits_processor=LogitsProcessorList(processors),
                                              **request.settings.completion_kwargs())
    for chunk in stream:
        choice = chunk["choices"][0]
        finish = choice.get("finish_reason") or finish
        if choice["text"]:
            yield Event(choice["text"])
    yield Event("", done=True, n_tokens=counter.count, seconds=time.perf_counter() - start,
                finish_reason=finish, info=strategy.info())


def generate_text(models: Models, strategy: Strategy, request: Request, base_prompt: str) -> tuple[str, Event]:
    """Join a stream: (text, final event)."""
    parts, last = [], None
    for event in stream_generation(models, strategy, request, base_prompt):
        parts.append(event.text)
        last = event
    return "".join(parts), last


class PlainStrategy:
    """The frozen LLM, unsteered."""

    name = "plain"

    def processors(self, models, request, llm_messages) -> list[LogitsProcessor]:
        return []

    def info(self) -> dict:
        return {"strategy": self.name}


class DriftMixer:
    """logits = h_LLM + (1/beta) * sum_i w_i (h_i - h_0), with the sLM sequences in lockstep.

    Sequences 0..k-1 hold the attribute prompts; sequence k holds the base prompt unless the
    LLM's own logits already are h_0 (same model, same base prompt), in which case it is skipped.
    """

    def __init__(self, context, prompts: list[list[int]], weights: np.ndarray, beta: float, base_is_llm: bool):
        weights = np.asarray(weights, dtype=np.float32)
        if not (beta > 0 and math.isfinite(beta)):
            raise EdgeDriftError(f"beta must be a positive number, got {beta}")
        if not np.all(np.isfinite(weights)) or weights.ndim != 1 or len(weights) == 0:
            raise EdgeDriftError("drift weights must be a non-empty vector of finite numbers")
        expected = len(weights) + (0 if base_is_llm else 1)
        if len(prompts) != expected or expected > context.n_seq:
            raise ValueError(f"need {expected} sLM prompts within {context.n_seq} sequences, got {len(prompts)}")
        self.context = context
        self.prompts = prompts
        self.coefficients = weights / np.float32(beta)
        self.coefficient_sum = float(self.coefficients.sum())
        self.base_is_llm = base_is_llm
        self.k = len(weights)
        self.n_seen: int | None = None  # LLM tokens the sLM sequences have followed
        self.llm_prompt_length: int | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.n_seen is None:
            self.llm_prompt_length = len(input_ids)
            rows = self.context.sync(self.prompts)
        else:
            new = [int(t) for t in input_ids[self.n_seen:]]
            if len(new) == 1:
                rows = self.context.step(new * len(self.prompts))
            else:  # several tokens at once (not produced by llama-cpp-python today): decode them all
                from .engine import Segment
                rows = np.concatenate(self.context.decode(
                    [Segment(seq, new, "last") for seq in range(len(self.prompts))]))
        self.n_seen = len(input_ids)
        base = scores if self.base_is_llm else rows[self.k]
        # sum_i c_i (h_i - h_0) = c @ H - (sum c) h_0: one (k, V) product, no per-row loop
        steer = self.coefficients @ rows[:self.k] - self.coefficient_sum * base
        return scores + steer


def check_tokenizers(llm, slm) -> None:
    """LLM and sLM must share a tokenizer: same vocabulary size and the same token texts."""
    if llm is slm or llm.path == slm.path:
        return
    problem = None
    if llm.n_vocab != slm.n_vocab:
        problem = f"vocabulary sizes differ ({llm.n_vocab} vs {slm.n_vocab})"
    else:
        for token in np.linspace(0, llm.n_vocab - 1, 256).astype(int):
            a = llm.llm.detokenize([int(token)], special=True)
            b = slm.llm.detokenize([int(token)], special=True)
            if a != b:
                problem = f"token {token} is {a!r} in one and {b!r} in the other"
                break
    if problem:
        raise TokenizerMismatchError(
            f"{llm.path.name} and {slm.path.name} do not share a tokenizer ({problem}); "
            "pick an sLM from the same family (`edge-drift models list`)"
        )


class DriftStrategy:
    """Drift decoding with a fitted profile's top attributes."""

    name = "drift"

    def __init__(self, profile, beta: float | None = None, top_attributes: int | None = None):
        self.beta = profile.beta if beta is None else beta  # chat's /beta changes it between turns
        self.top_attributes = top_attributes
        self.update_profile(profile)
        self._context = None
        self._context_key = None
        self.last_mixer: DriftMixer | None = None

    def update_profile(self, profile) -> None:
        """Use a (re)fitted profile from the next request on; the sLM context stays warm."""
        self.profile = profile
        ranked = sorted(profile.attributes, key=lambda a: -abs(a.weight))
        k = self.top_attributes or profile.top_k
        self.attributes = [a for a in ranked[:k] if a.weight != 0.0] or ranked[:1]

    def info(self) -> dict:
        return {"strategy": self.name, "beta": self.beta,
                "attributes": {a.name: a.weight for a in self.attributes}}

    def slm_context(self, models: Models, n_seq: int):
        """One sLM context per strategy, kept across turns so a chat only evaluates new tokens."""
        n_ctx = models.llm.llm.n_ctx()
        key = (id(models.slm), n_seq, n_ctx)
        if self._context is None or self._context_key != key:
            if self._context is not None:
                self._context.close()
            self._context = models.slm.context(n_seq, n_ctx, n_batch=512)
            self._context_key = key
        return self._context

    def processors(self, models, request, llm_messages) -> list[LogitsProcessor]:
        base = system_prompt(self.profile.base_prompt, request.system)
        base_is_llm = models.shared and llm_messages[0]["content"] == base
        systems = [system_prompt(a.prompt, request.system) for a in self.attributes]
        if not base_is_llm:
            systems.append(base)
        prompts = [models.slm.chat_tokens([{"role": "system", "content": s}, *request.messages]) for s in systems]
        context = self.slm_context(models, len(prompts))
        weights = np.array([a.weight for a in self.attributes])
        self.last_mixer = DriftMixer(context, prompts, weights, self.beta, base_is_llm)
        return [self.last_mixer]

    def close(self) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None


STRATEGIES = {"drift": DriftStrategy, "plain": PlainStrategy}


def make_strategy(name: str, profile=None, **options) -> Strategy:
    """Build a strategy by name; an unknown name lists the valid ones."""
    if name not in STRATEGIES:
        raise EdgeDriftError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "plain":
        return PlainStrategy()
    if profile is None:
        raise EdgeDriftError(f"strategy {name!r} needs a profile: pass --user USER")
    return STRATEGIES[name](profile, **options)


__all__ = ["DriftMixer", "DriftStrategy", "Event", "Models", "PlainStrategy", "Request", "SamplingSettings",
           "check_tokenizers", "generate_text", "make_strategy", "stream_generation"]
