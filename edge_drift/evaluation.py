"""Few-shot preference evaluation: DSP-style data, cached response scoring, held-out pairwise accuracy."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .attributes import AttributeSet
from .pairs import Pair
from .rewards import Job, LogProbCache, reward_matrices, score_job_groups, system_prompt
from .solvers import pairwise_accuracy, solve

DSP_DOMAINS = ("academy", "business", "entertainment", "literature")


@dataclass(frozen=True)
class Query:
    prompt: str
    responses: dict[str, str]


def load_dsp(path: str | Path) -> list[Query]:
    records = json.loads(Path(path).read_text())
    return [Query(r["query"], {d: r["responses"][d] for d in DSP_DOMAINS}) for r in records]


def query_jobs(query: Query, attributes: AttributeSet) -> list[Job]:
    """Every system prompt x every domain answer: the DSP pairs of all users reuse these scores."""
    systems = [attributes.base] + [a.prompt for a in attributes.attributes]
    return [Job(system_prompt(s, None), (), query.prompt, text) for s in systems for text in query.responses.values()]


def score_queries(engine, queries: Sequence[Query], attributes: AttributeSet, cache: LogProbCache,
                  progress: Callable[[int], None] | None = None, checkpoint: Callable[[], None] | None = None):
    """Score queries one at a time (one batched call each), checkpointing the cache as it goes."""
    for query in queries:
        score_job_groups(engine, [query_jobs(query, attributes)], cache)
        if checkpoint:
            checkpoint()
        if progress:
            progress(1)


def dsp_pairs(queries: Sequence[Query], user: str, seed: int) -> list[Pair]:
    """Chosen = the user's domain answer; rejected = another domain's answer to the same query."""
    rng = np.random.default_rng(seed)
    others = [d for d in DSP_DOMAINS if d != user]
    return [Pair(q.prompt, q.responses[user], q.responses[others[rng.integers(len(others))]]) for q in queries]


def dsp_accuracy(queries: Sequence[Query], attributes: AttributeSet, cache: LogProbCache, user: str,
                 n_train: int, n_test: int, seed: int, solver: str) -> float:
    """Fit on the first n_train queries of a seeded shuffle of the pool, test on the last n_test."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(queries))
    train_q = [queries[i] for i in order[:n_train]]
    test_q = [queries[i] for i in order[len(queries) - n_test:]]
    chosen, rejected = reward_matrices(dsp_pairs(train_q, user, seed), attributes, cache)
    weights = solve(chosen - rejected, solver)
    test_c, test_r = reward_matrices(dsp_pairs(test_q, user, seed + 1), attributes, cache)
    return pairwise_accuracy(test_c - test_r, weights)
