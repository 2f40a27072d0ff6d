"""Cold start from one sentence: does a user's own statement, as one more attribute, rank their DSP pairs?

Each DSP user gets one sentence written from the domain's name only (research/data/dsp_statements.json), scored
as a system prompt by research/pipeline/dsp_statement_scores.py. Per seed: 50 test queries, votes drawn at random
from the other 150 queries' pairs; held-out accuracy at 0/3/5/10/25 votes of
- no statement: the default fit over the 48 attributes (0 votes: no profile, 0.5);
- statement: the same fit over 49, the statement one more attribute (0 votes: the statement alone);
- statement + prior N: the fit blended with the statement's weight as N votes' worth (`fitting.statement_prior`).
The "contradicted" rows give each user another user's sentence. Last, the sentence alone scored against a
baseline other than the base prompt (the second attempt at 0.65 at 0 votes): the mean reward of the 48
attributes (what any style instruction shifts), and the other three users' sentences (which knows the benchmark's
other domains, so it is no product option); and the sentence alone over all 200 queries at other cut-offs.

Usage: PYTHONPATH=.:research .venv/bin/python research/studies/statement_study.py DSP_DEV.json [SEEDS]
"""
from __future__ import annotations

import sys

import numpy as np

from common import N_TEST_QUERIES, STATEMENT_SCORES, answer_rewards, chunk_rows, statement_prompts, user_pairs
from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS, load_dsp
from edge_drift.fitting import replayed_weights, statement_prior
from edge_drift.prompts import system_prompt
from edge_drift.rewards import DEFAULT_MAX_RESPONSE_TOKENS, Job
from edge_drift.solvers import pairwise_accuracy

VOTES = (0, 3, 5, 10, 25)
PRIORS = (2, 5)
CUTOFFS = (8, 16, 24, 32, 48, 64)  # the per-token statement scores stop at 64


def statement_rewards(data: str, cutoff: int = DEFAULT_MAX_RESPONSE_TOKENS) -> dict[str, np.ndarray]:
    """Statement author -> (queries, domains): log p(y | statement, x) - log p(y | s_0, x)."""
    rows, base_rows = chunk_rows(cutoff, [STATEMENT_SCORES]), chunk_rows(cutoff)
    base = load_attribute_set().base
    queries = load_dsp(data)[:200]

    def total(table, system, q, d):
        return np.nansum(table[Job(system_prompt(system, None), (), q.prompt, q.responses[d]).key])

    return {user: np.array([[total(rows, prompt, q, d) - total(base_rows, base, q, d) for d in DSP_DOMAINS]
                            for q in queries]) for user, prompt in statement_prompts().items()}


def accuracies(R: np.ndarray, S: np.ndarray, user: int, seed: int) -> dict[str, list[float]]:
    """Per method, accuracy at each of VOTES (random votes), for one user and split."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(R.shape[0])
    both = np.concatenate([R, S[:, :, None]], axis=2)  # the statement is attribute 48
    test, pool = user_pairs(both, user, order[:N_TEST_QUERIES]), user_pairs(both, user, order[N_TEST_QUERIES:])
    picks = rng.permutation(len(pool))
    out: dict[str, list[float]] = {"no statement": [], "statement": [], **{f"statement + prior {p}": [] for p in PRIORS}}
    alone = np.zeros(both.shape[2])
    alone[-1] = 1.0
    for n in VOTES:
        train = pool[picks[:n]]
        out["no statement"].append(pairwise_accuracy(test[:, :-1], replayed_weights(train[:, :-1])) if n else 0.5)
        fitted = replayed_weights(train) if n else alone
        out["statement"].append(pairwise_accuracy(test, fitted))
        for prior in PRIORS:
            out[f"statement + prior {prior}"].append(pairwise_accuracy(test, statement_prior(fitted, -1, n, prior)))
    return out


def contrasted_alone(R: np.ndarray, statements: dict[str, np.ndarray], seeds: int) -> dict[str, list[float]]:
    """Per baseline, per user: accuracy at 0 votes of the statement's reward minus that baseline's, 50 test queries
    per seed as above."""
    baselines = {"base prompt (the product)": lambda u: 0.0,
                 "mean of the 48 attributes": lambda u: R.mean(axis=2),
                 "the other users' sentences": lambda u: np.mean([statements[o] for o in DSP_DOMAINS if o != u], axis=0)}
    out = {}
    for label, baseline in baselines.items():
        out[label] = []
        for i, user in enumerate(DSP_DOMAINS):
            score = (statements[user] - baseline(user))[:, :, None]
            out[label].append(np.mean([pairwise_accuracy(user_pairs(score, i, np.random.default_rng(seed).permutation(
                R.shape[0])[:N_TEST_QUERIES]), np.ones(1)) for seed in range(seeds)]))
    return out


def main() -> None:
    data = sys.argv[1]
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    R, statements = answer_rewards(data), statement_rewards(data)
    for label, shift in (("own sentence", 0), ("contradicted: the next user's sentence", 1)):
        table: dict[str, list[np.ndarray]] = {}
        for seed in range(seeds):
            per_user = [accuracies(R, statements[DSP_DOMAINS[(u + shift) % 4]], u, seed) for u in range(4)]
            for method in per_user[0]:
                table.setdefault(method, []).append(np.mean([p[method] for p in per_user], axis=0))
        print(f"\n{label}, mean of 4 users ± 95% interval over {seeds} seeds\n")
        print("| method | " + " | ".join(f"{n} votes" for n in VOTES) + " |")
        print("|---|" + "---|" * len(VOTES))
        for method, rows in table.items():
            rows = np.array(rows)
            mean, ci = rows.mean(axis=0), 1.96 * rows.std(axis=0, ddof=1) / np.sqrt(seeds)
            print(f"| {method} | " + " | ".join(f"{m:.3f} ± {c:.3f}" for m, c in zip(mean, ci)) + " |")
        if shift == 0:
            per = {u: [accuracies(R, statements[u], i, s)["statement"][0] for s in range(seeds)]
                   for i, u in enumerate(DSP_DOMAINS)}
            print("\nthe statement alone (0 votes), per user: "
                  + ", ".join(f"{u} {np.mean(v):.3f}" for u, v in per.items()))
    print("\nthe statement alone (0 votes) against another baseline: mean of 4 users (per user)")
    for label, per_user in contrasted_alone(R, statements, seeds).items():
        print(f"- {label}: {np.mean(per_user):.3f} ({', '.join(f'{a:.3f}' for a in per_user)})")
    every = np.arange(R.shape[0])
    for cutoff in CUTOFFS:
        at = statement_rewards(data, cutoff)
        alone = [pairwise_accuracy(user_pairs(at[u][:, :, None], i, every), np.ones(1)) for i, u in enumerate(DSP_DOMAINS)]
        print(f"the statement alone at a {cutoff}-token cut-off, all {R.shape[0]} queries: {np.mean(alone):.3f}")


if __name__ == "__main__":
    main()
