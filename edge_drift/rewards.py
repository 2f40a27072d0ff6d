"""Zero-shot attribute rewards r_i(x, y) = log p(y | s_i, x) - log p(y | s_0, x), batched and cached."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .attributes import AttributeSet
from .errors import PairsError
from .pairs import Pair
from .prompts import attribute_messages, system_prompt
from .screening import ScreeningPlan, ScreeningResult, screen

# Scoring cost grows linearly with answer length; an answer's register shows in its first words and later
# content adds noise (docs/RESULTS.md, "Answer cut-off on per-token scores": 8, 24 and 32 tokens rank held-out
# DSP pairs within 0.01 of each other at 50-100 pairs). 24 is the default because its profiles steer better:
# on all 350 held-out DSP prompts per user they beat 8-token profiles head to head (0.55 [0.52, 0.57] by
# TF-IDF, 0.52 by MiniLM; "24-token profiles on all 350 prompts"), for 1.7x the fit and vote time of 8.
DEFAULT_MAX_RESPONSE_TOKENS = 24
# Answer token t (from 0) counts position_decay**t in its log-prob. On DSP (docs/RESULTS.md, "Early tokens
# weigh more") 0.9 ranks held-out pairs ~0.01 better at every size for no extra scoring, but its profiles did
# not steer generation better (judged head to head, 160 prompts per user), so the default stays a plain sum.
DEFAULT_POSITION_DECAY = 1.0
SCORING_SEQUENCES = 32  # best measured throughput on 2 cores (16: -7%, 84: -17%)
CACHE_VERSION = 1


@dataclass(frozen=True)
class Job:
    """Score `response` as the assistant's answer to `prompt` after `history`, under `system`."""

    system: str
    history: tuple
    prompt: str
    response: str

    @property
    def key(self) -> str:
        text = json.dumps([self.system, list(self.history), self.prompt, self.response])
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class LogProbCache:
    """Summed response log-probs for one sLM and backend (`Engine.scoring_key`), one truncation length and
    one position decay (answer token t counts position_decay**t; caches written before it existed are flat, 1.0)."""

    slm_sha256: str
    max_response_tokens: int
    entries: dict[str, float] = field(default_factory=dict)
    position_decay: float = 1.0

    def compatible(self, slm_sha256: str, max_response_tokens: int, position_decay: float = 1.0) -> bool:
        return (self.slm_sha256 == slm_sha256 and self.max_response_tokens == max_response_tokens
                and self.position_decay == position_decay)

    def weigh(self, token_logprobs: np.ndarray) -> float:
        """One answer's log-prob as this cache keeps it: its tokens' log-probs, token t weighted decay**t."""
        if self.position_decay == 1.0:
            return float(token_logprobs.sum())
        return float(token_logprobs @ self.position_decay ** np.arange(len(token_logprobs), dtype=np.float64))

    def to_dict(self) -> dict:
        return {"version": CACHE_VERSION, "slm_sha256": self.slm_sha256,
                "max_response_tokens": self.max_response_tokens, "position_decay": self.position_decay,
                "entries": self.entries}

    @classmethod
    def from_dict(cls, data: dict) -> "LogProbCache | None":
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return None  # an unknown cache is only a cost, never an error: recompute
        entries = data.get("entries")
        if not isinstance(entries, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in entries.values()):
            return None  # damaged entries would poison every later fit: recompute them instead
        decay = data.get("position_decay", 1.0)
        if not isinstance(decay, (int, float)) or isinstance(decay, bool) or not 0 < decay <= 1:
            return None
        return cls(str(data["slm_sha256"]), int(data["max_response_tokens"]),
                   {str(k): float(v) for k, v in entries.items()}, float(decay))

    @classmethod
    def load(cls, path, slm_sha256: str, max_response_tokens: int, position_decay: float) -> "LogProbCache":
        """The cache saved at `path` if it was scored the same way, else an empty one (a missing, damaged or
        other-model cache only costs recomputation)."""
        cache = None
        if path is not None and path.is_file():
            try:
                cache = cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError):  # JSON, UTF-8 and shape errors alike
                cache = None
        if cache is None or not cache.compatible(slm_sha256, max_response_tokens, position_decay):
            cache = cls(slm_sha256, max_response_tokens, position_decay=position_decay)
        return cache


def pair_jobs(pair: Pair, systems: Sequence[str]) -> list[Job]:
    """Jobs for one pair: every system prompt x (chosen, rejected), in that order."""
    return [Job(system_prompt(s, pair.system), pair.messages, pair.prompt, response)
            for s in systems for response in (pair.chosen, pair.rejected)]


def tokenize_job(engine, job: Job, max_response_tokens: int, memo: dict | None = None) -> tuple[list[int], list[int]]:
    """(prefix, answer) tokens of a job; `memo` (text -> tokens) keeps what the jobs of one pair share."""
    messages = attribute_messages(job.system, job.prompt, list(job.history))
    prefix = engine.chat_tokens(messages, memo=memo)
    return prefix, engine.reply_tokens(messages, job.response, memo)[:max_response_tokens]


@dataclass
class ScoringStats:
    jobs_scored: int = 0
    tokens_scored: int = 0  # what a naive scorer evaluates: prefix + answer for every job
    tokens_evaluated: int = 0  # what llama_decode really evaluated (shared prefixes once)
    logit_rows: int = 0  # evaluated tokens that needed a full-vocabulary row (every answer token but the last)
    seconds: float = 0.0


class ResponseScorer:
    """Fills a LogProbCache one group of jobs at a time, on one scoring context kept for all groups.

    Each group (e.g. one pair) is scored in its own batched call, so a pair's numbers never depend on
    which other pairs were scored with it: an incremental `add` then reproduces a full refit exactly.
    """

    def __init__(self, engine, cache: LogProbCache):
        self.engine = engine
        self.cache = cache
        self.stats = ScoringStats()
        self._ctx = None
        self._system_blocks: dict[str, list[int]] = {}  # system prompt -> tokens of its system block

    def __enter__(self) -> "ResponseScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    def score(self, group: Sequence[Job]) -> None:
        todo = list({job.key: job for job in group if job.key not in self.cache.entries}.values())
        if not todo:
            return
        start = time.perf_counter()
        memo: dict = {}
        items = [tokenize_job(self.engine, job, self.cache.max_response_tokens, memo) for job in todo]
        needed = max(len(p) + len(c) for p, c in items)
        n_ctx = self.engine.llm.n_ctx()
        if needed > n_ctx:  # never size a context by the longest pair alone
            raise PairsError(f"a pair's prompt and answer are {needed} tokens, more than the model's "
                             f"context of {n_ctx}; shorten its prompt or earlier turns "
                             f"(prompt starts {group[0].prompt[:40]!r})")
        if self._ctx is None or self._ctx.n_ctx_per_seq < needed:
            self.close()
            self._ctx = self.engine.context(SCORING_SEQUENCES, -(-needed // 256) * 256)
        decoded_before, rows_before = self._ctx.n_tokens_decoded, self._ctx.n_logit_rows
        stems = [self.stem_length(job.system, prefix) for job, (prefix, _) in zip(todo, items)]
        for job, scores in zip(todo, self._ctx.score(items, stems=stems)):
            self.cache.entries[job.key] = self.cache.weigh(scores)
        self.stats.jobs_scored += len(todo)
        self.stats.tokens_scored += sum(len(p) + len(c) for p, c in items)
        self.stats.tokens_evaluated += self._ctx.n_tokens_decoded - decoded_before
        self.stats.logit_rows += self._ctx.n_logit_rows - rows_before
        self.stats.seconds += time.perf_counter() - start


    def stem_length(self, system: str, prefix: list[int]) -> int:
        """Tokens of the system block that starts this prefix: every pair repeats it, so it is evaluated once."""
        block = self._system_blocks.get(system)
        if block is None:
            block = self.engine.chat_tokens([{"role": "system", "content": system}], add_generation_prompt=False)
            self._system_blocks[system] = block
        return len(block) if prefix[:len(block)] == block else 0  # templates that rewrite the system turn: no stem


def score_job_groups(engine, groups: Sequence[Sequence[Job]], cache: LogProbCache,
                     progress: Callable[[int], None] | None = None) -> ScoringStats:
    """Fill the cache for every job, one batched call per group (see ResponseScorer)."""
    with ResponseScorer(engine, cache) as scorer:
        for group in groups:
            scorer.score(group)
            if progress:
                progress(1)
    return scorer.stats


def reward_matrices(pairs: Sequence[Pair], attributes: AttributeSet, cache: LogProbCache,
                    missing: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(chosen, rejected) reward matrices of shape (n_pairs, n_attributes) from cached log-probs; a job the cache
    lacks is a KeyError, or `missing` when given."""
    systems = [attributes.base] + [a.prompt for a in attributes.attributes]
    k = len(attributes.attributes)
    chosen = np.empty((len(pairs), k))
    rejected = np.empty((len(pairs), k))
    lookup = cache.entries.__getitem__ if missing is None else lambda key: cache.entries.get(key, missing)
    for row, pair in enumerate(pairs):
        values = np.array([lookup(job.key) for job in pair_jobs(pair, systems)]).reshape(len(systems), 2)
        rewards = values[1:] - values[0]
        chosen[row], rejected[row] = rewards[:, 0], rewards[:, 1]
    return chosen, rejected


def cached_differences(pairs: Sequence[Pair], attributes: AttributeSet, cache: LogProbCache) -> np.ndarray:
    """Reward differences chosen - rejected (n_pairs, n_attributes) from the cache alone; NaN where an attribute was
    never scored on a pair (screened out of the fit)."""
    chosen, rejected = reward_matrices(pairs, attributes, cache, missing=np.nan)
    return chosen - rejected


def compute_rewards(engine, pairs: Sequence[Pair], attributes: AttributeSet, cache: LogProbCache,
                    progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, ScoringStats]:
    """Score what the cache lacks (one batched call per pair) and return the reward matrices."""
    systems = [attributes.base] + [a.prompt for a in attributes.attributes]
    stats = score_job_groups(engine, [pair_jobs(p, systems) for p in pairs], cache, progress)
    chosen, rejected = reward_matrices(pairs, attributes, cache)
    return chosen, rejected, stats


def screened_differences(engine, pairs: Sequence[Pair], attributes: AttributeSet, cache: LogProbCache,
                         plan: ScreeningPlan, progress: Callable[[int], None] | None = None
                         ) -> tuple[ScreeningResult, ScoringStats]:
    """Reward differences (chosen - rejected) per pair and attribute, scoring only what the plan asks for.

    Each call scores one pair under the base prompt and the requested attributes in one batch; what
    the cache already holds costs nothing.
    """
    prompts = [a.prompt for a in attributes.attributes]

    def score(rows: Sequence[int], columns: Sequence[int]) -> np.ndarray:
        systems = [attributes.base] + [prompts[c] for c in columns]
        out = np.empty((len(rows), len(columns)))
        for i, row in enumerate(rows):
            jobs = pair_jobs(pairs[row], systems)
            scorer.score(jobs)
            values = np.array([cache.entries[job.key] for job in jobs]).reshape(len(systems), 2)
            rewards = values[1:] - values[0]
            out[i] = rewards[:, 0] - rewards[:, 1]
        return out

    with ResponseScorer(engine, cache) as scorer:
        result = screen(len(pairs), len(prompts), score, plan, progress)
    return result, scorer.stats
