"""What the studies share: reading the committed DSP scores, the weights a profile would get, study-only prompts.

Studies import this module (run them as `PYTHONPATH=.:research .venv/bin/python research/studies/NAME.py`),
never each other; nothing here is part of the product.
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp, pair_features
from edge_drift.fitting import replayed_weights
from edge_drift.profile import DEFAULT_TOP_K
from edge_drift.questions import bald
from edge_drift.prompts import system_prompt
from edge_drift.rewards import DEFAULT_MAX_RESPONSE_TOKENS, Job, LogProbCache, pair_jobs
from edge_drift.solvers import fit_weights, rms_scale, solve, top_k

# -- the committed per-token DSP scores (research/data/dsp_token_scores/) ----------------------------------
DATA = Path(__file__).resolve().parent / "data"
CHUNKS = DATA / "dsp_token_scores"

SIZES = (10, 25, 50, 100)

N_TEST = 100

MAX_TOKENS = 32


def chunk_rows(max_tokens: int = MAX_TOKENS, paths=None) -> dict[str, np.ndarray]:
    """Job key -> its first max_tokens per-token log-probs (NaN past an answer's end), from committed chunks."""
    rows: dict[str, np.ndarray] = {}
    for path in paths if paths is not None else sorted(CHUNKS.glob("q*-*.npz")):
        chunk = np.load(path)
        rows.update(zip(chunk["keys"].tolist(), chunk["logprobs"][:, :max_tokens].astype(np.float64)))
    return rows


@functools.lru_cache(maxsize=4)  # the studies ask for the same read several times per run (written, reverse)
def token_differences(data: str, max_tokens: int = MAX_TOKENS) -> dict[str, np.ndarray]:
    """Per user: (pairs, attributes, tokens) per-token reward differences, chosen minus rejected (0 past an end).

    Cached: callers must not modify the arrays."""
    rows = chunk_rows(max_tokens)
    attributes = load_attribute_set()
    systems = [attributes.base] + [a.prompt for a in attributes.attributes]
    queries = load_dsp(data)[:200]
    out = {}
    for user in DSP_DOMAINS:
        pairs = dsp_pairs(queries, user, seed=0)
        logprobs = np.array([[rows[job.key] for job in pair_jobs(p, systems)] for p in pairs])
        logprobs = np.nan_to_num(logprobs.reshape(len(pairs), len(systems), 2, max_tokens))
        rewards = logprobs[:, 1:] - logprobs[:, :1]
        out[user] = rewards[:, :, 0] - rewards[:, :, 1]
    return out


def dsp_features(data: str, cache_path: str):
    cache = LogProbCache.from_dict(json.loads(open(cache_path).read()))
    # the committed tables predate the 7 writing registers; REGISTERS=1 studies today's default 48
    attributes = load_attribute_set(registers=os.environ.get("REGISTERS") == "1")
    queries = [q for q in load_dsp(data)]
    n_scored = 0
    for n_scored in range(len(queries), 0, -1):  # the longest scored prefix of the query list
        try:
            pair_features(dsp_pairs(queries[:n_scored], DSP_DOMAINS[0], 0)[-1:], attributes, cache)
            break
        except KeyError:
            continue
    queries = queries[:n_scored]
    return {u: pair_features(dsp_pairs(queries, u, seed=0), attributes, cache) for u in DSP_DOMAINS}


# -- the weights a profile would get ------------------------------------------------------------------
def l1_bradley_terry(D: np.ndarray, l1: float, l2: float = 1.0) -> np.ndarray:
    """Bradley-Terry on RMS-scaled differences with an L1 penalty (w = u - v, u, v >= 0, L-BFGS-B)."""
    scale = rms_scale(D)
    X, k = D / scale, D.shape[1]

    def loss(uv: np.ndarray) -> tuple[float, np.ndarray]:
        w = uv[:k] - uv[k:]
        margin = X @ w
        grad = -X.T @ expit(-margin) + l2 * w
        return -log_expit(margin).sum() + 0.5 * l2 * w @ w + l1 * uv.sum(), np.concatenate([grad + l1, -grad + l1])

    uv = minimize(loss, np.zeros(2 * k), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * k)).x
    w = uv[:k] - uv[k:]
    w[np.abs(w) < 1e-6] = 0.0
    return w / scale


def sparse_bradley_terry(D: np.ndarray, k: int = DEFAULT_TOP_K, steps: int = 14) -> np.ndarray:
    """The L1 strength, by bisection, that leaves at most k non-zero weights (select's when none is left)."""
    low, high, best = 0.0, float(np.abs(D / rms_scale(D)).sum(axis=0).max()), None
    for _ in range(steps):
        strength = (low + high) / 2
        w = l1_bradley_terry(D, strength)
        if np.count_nonzero(w) > k:
            low = strength
        else:
            high, best = strength, w
    return best if best is not None and np.any(best) else solve(D, "select")


def weights_of(method: str, D: np.ndarray) -> np.ndarray:
    """The weights `profile fit` would store for these training differences (n_pairs, n_attributes)."""
    if method == "fit":  # the default: screening while scoring, then select on the attributes kept
        return replayed_weights(D)
    if method == "auto":
        return fit_weights(D, "auto").weights
    if method == "contrast select (single attributes and a-rather-than-b pairs)":
        return solve(D, "contrast")
    if method.startswith("sparse bt"):
        return sparse_bradley_terry(D)
    if method == "select among attributes with mean > 0":  # a profile that only steers toward styles
        t = D.mean(axis=0) / np.maximum(D.std(axis=0), 1e-12)
        toward = np.flatnonzero(t > 0)
        if len(toward) == 0:
            return np.zeros(D.shape[1])  # nothing to steer toward: every pair ties
        keep = toward[np.argsort(-t[toward], kind="stable")[:DEFAULT_TOP_K]]
        weights = np.zeros(D.shape[1])
        weights[keep] = solve(D[:, keep], "drift")
        return weights
    if method == "bt refit on its top 7":  # keep bt's 7 largest, then fit bt again on those alone
        keep = top_k(solve(D, "bt"), DEFAULT_TOP_K)
        weights = np.zeros(D.shape[1])
        weights[keep] = solve(D[:, keep], "bt")
        return weights
    return solve(D, method)


# -- a study's own system prompts, scored per token ------------------------------------------------------
N_QUERIES = 200
SCORED_TOKENS = 64  # per-token scores of a study's own prompts are kept this far
PROMPT_CUTOFF = 8  # ... and summed to here, as the 8-token profiles of the time


def jobs_for(pairs, system: str) -> list[Job]:
    return [Job(system_prompt(system, p.system), p.messages, p.prompt, y) for p in pairs for y in (p.chosen, p.rejected)]


def score_user_prompts(setups: dict, path: Path) -> None:
    """Score each user's (system prompt, pairs), chosen and rejected, per token up to 64, into `path` (.npz)."""
    from edge_drift.engine import Engine
    from edge_drift.rewards import SCORING_SEQUENCES, tokenize_job

    engine = Engine("default")
    keys, rows = [], []
    began = time.perf_counter()
    with engine.context(SCORING_SEQUENCES, 1024) as ctx:
        for user, (prompt, pairs) in setups.items():
            for start in range(0, len(pairs), 10):  # one pair-group of 10 per call keeps the batch full
                jobs = jobs_for(pairs[start:start + 10], prompt)
                for job, scores in zip(jobs, ctx.score([tokenize_job(engine, job, SCORED_TOKENS) for job in jobs])):
                    row = np.full(SCORED_TOKENS, np.nan, dtype=np.float32)
                    row[:len(scores)] = scores
                    keys.append(job.key)
                    rows.append(row)
                print(f"{user}: {start + 10}/{len(pairs)} pairs, {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    np.savez_compressed(path, keys=np.array(keys), logprobs=np.array(rows, dtype=np.float16),
                        slm_sha256=np.array(engine.identity.sha256))
    print(f"wrote {path} ({len(keys)} jobs) in {time.perf_counter() - began:.0f} s")


def prompt_differences(data: str, setups: dict, path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per user: (200, 48) attribute differences and the differences of the user's own prompt (scored into
    `path` by `score_user_prompts`) on its pairs, both 8-token flat sums of reward, chosen minus rejected."""
    attributes = load_attribute_set()
    rows = chunk_rows(PROMPT_CUTOFF, [path])
    base_rows = chunk_rows(PROMPT_CUTOFF)
    out = {}
    per_user = token_differences(data, PROMPT_CUTOFF)
    for user, (prompt, pairs) in setups.items():
        D = per_user[user]
        own = np.nan_to_num(np.array([rows[j.key] for j in jobs_for(pairs, prompt)])).sum(axis=1)
        base = np.nan_to_num(np.array([base_rows[j.key] for j in jobs_for(pairs, attributes.base)])).sum(axis=1)
        reward = (own - base).reshape(len(pairs), 2)
        out[user] = (D[:, :, :PROMPT_CUTOFF].sum(axis=2), reward[:, 0] - reward[:, 1])
    return out


# -- study-only attributes: the user's own answers or words as a system prompt ---------------------------
EXEMPLAR_WORDS = 40  # an answer's opening carries its style (RESULTS: "Answer truncation"); keep the prompt short


def exemplar_prompt(base: str, answers: list[str], words: int = EXEMPLAR_WORDS) -> str:
    """A system prompt quoting the openings of answers the user chose: a style cue that still steers decoding."""
    quoted = "\n\n".join(f"Example {i}: {' '.join(text.split()[:words])}" for i, text in enumerate(answers, 1))
    return f"{base} Answer in the same style as these example answers that the user liked.\n\n{quoted}"

WRITTEN_WORDS = 12

WORD_PATTERN = re.compile(r"[a-z][a-z']+")


def distinctive_words(chosen: Sequence[str], rejected: Sequence[str], n: int = WRITTEN_WORDS) -> list[str]:
    """The n words whose presence most separates the chosen answers from the rejected ones.

    Each word is ranked by the z-score of its log-odds of appearing in a chosen rather than a rejected answer
    (document frequencies, add-half smoothing), so a word must be both lopsided and frequent to rank: "the"
    is in every answer (z near 0), a topic word seen once in a chosen answer has a large variance."""
    def presence(texts: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for text in texts:
            for word in set(WORD_PATTERN.findall(text.lower())):
                counts[word] = counts.get(word, 0) + 1
        return counts

    in_chosen, in_rejected = presence(chosen), presence(rejected)

    def z(word: str) -> float:
        c, r = in_chosen.get(word, 0) + 0.5, in_rejected.get(word, 0) + 0.5
        c_out, r_out = len(chosen) - c + 1.0, len(rejected) - r + 1.0
        return (np.log(c / c_out) - np.log(r / r_out)) / np.sqrt(1 / c + 1 / c_out + 1 / r + 1 / r_out)

    ranked = sorted(in_chosen, key=lambda word: (-z(word), word))
    return [word for word in ranked[:n] if z(word) > 0]


def written_prompt(base: str, chosen: Sequence[str], rejected: Sequence[str], n_words: int = WRITTEN_WORDS) -> str:
    """An attribute written from the user's pairs: the base prompt asking for the words their chosen answers use."""
    words = distinctive_words(chosen, rejected, n_words)
    return f"{base} The user likes answers that use words such as {', '.join(words)}. Write in that style."


# -- every domain answer's rewards, for studies that form their own pairs ---------------------------------
N_TEST_QUERIES = 50  # held out per seed by the pool studies; the other 150 scored queries' pairs are the pool
STATEMENTS = DATA / "dsp_statements.json"  # one sentence per DSP user (cold start), written from the domain name
STATEMENT_SCORES = DATA / "dsp_statement_token_scores.npz"


def answer_rewards(data: str, cutoff: int = DEFAULT_MAX_RESPONSE_TOKENS) -> np.ndarray:
    """(queries, domains, attributes): r_i(x, y) = log p(y | s_i, x) - log p(y | s_0, x), the product's cut-off."""
    rows = chunk_rows(cutoff)
    attributes = load_attribute_set()
    systems = [attributes.base] + [a.prompt for a in attributes.attributes]
    queries = load_dsp(data)[:N_QUERIES]
    logprobs = np.array([[[np.nansum(rows[Job(system_prompt(s, None), (), q.prompt, q.responses[d]).key])
                           for s in systems] for d in DSP_DOMAINS] for q in queries])
    return logprobs[:, :, 1:] - logprobs[:, :, :1]


def user_pairs(R: np.ndarray, user: int, queries: np.ndarray) -> np.ndarray:
    """Differences chosen - rejected: the user's answer against each other domain's, for these queries."""
    return np.array([R[q, user] - R[q, d] for q in queries for d in range(R.shape[1]) if d != user])


def statement_prompts() -> dict[str, str]:
    """User -> the statement's system prompt, as `profile say` builds it: the base prompt, then the sentence."""
    base = load_attribute_set().base
    return {user: system_prompt(base, text) for user, text in json.loads(STATEMENTS.read_text()).items()
            if user in DSP_DOMAINS}


# -- which pair a pool-based learner asks next (the active-learning study's rules) ------------------------
RULES = ("random", "near-tie", "variance", "bald")


def choose_pair(rule: str, candidates: np.ndarray, posterior, profile_weights: np.ndarray | None,
                rng: np.random.Generator) -> int:
    """The index of the candidate pair (rows of raw differences, either orientation) a rule would ask next.

    random: any; near-tie: the smallest |margin| under the profile's own weights (random while it has none);
    variance: the largest posterior variance of the margin; bald: the most expected information."""
    n = len(candidates)
    if rule == "random":
        return int(rng.integers(n))
    if rule == "near-tie":
        if profile_weights is None or not np.any(profile_weights):
            return int(rng.integers(n))
        score = -np.abs(np.asarray(candidates) @ profile_weights)
    elif rule in ("variance", "bald"):
        mean, variance = posterior.margins(candidates)
        score = variance if rule == "variance" else bald(mean, variance)
    else:
        raise ValueError(f"unknown rule {rule!r}; choose from {', '.join(RULES)}")
    best = np.flatnonzero(score >= score.max() - 1e-12)
    return int(rng.choice(best))  # ties (e.g. before any vote) are broken at random
