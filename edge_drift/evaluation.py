"""Few-shot preference evaluation: DSP-style data, cached response scoring, held-out pairwise accuracy."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .attributes import STATEMENT, AttributeSet
from .errors import EdgeDriftError
from .fitting import fit_pairs, replayed_weights
from .pairs import Pair, read_pairs
from .prompts import system_prompt
from .rewards import (DEFAULT_MAX_RESPONSE_TOKENS, DEFAULT_POSITION_DECAY, Job, LogProbCache, compute_rewards, reward_matrices,
                      score_job_groups)
from .solvers import DEFAULT_SOLVER, pairwise_accuracy, solve

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


# -- `edge-drift eval prefs`: few-shot preference accuracy of every method on held-out pairs ------------
EVAL_METHODS = ("fit", "select", "drift", "bt", "contrast", "auto", "logreg", "logprob", "length", "chance")
STATEMENT_METHOD = "fit + statement"  # the default fit with the user's statement as attribute and prior (--statements)


@dataclass
class PairFeatures:
    """Everything the methods need per pair: attribute rewards, base log-probs and lengths."""

    chosen: np.ndarray  # (n, k) rewards r_i(x, y_w)
    rejected: np.ndarray  # (n, k)
    base_chosen: np.ndarray  # (n,) log p(y_w | s_0, x)
    base_rejected: np.ndarray
    length_chosen: np.ndarray  # (n,) characters
    length_rejected: np.ndarray
    statement: int | None = None  # the column of the user's statement, if they gave one

    def without_statement(self) -> "PairFeatures":
        if self.statement is None:
            return self
        drop = lambda m: np.delete(m, self.statement, axis=1)  # noqa: E731
        return PairFeatures(drop(self.chosen), drop(self.rejected), self.base_chosen, self.base_rejected,
                            self.length_chosen, self.length_rejected)


def pair_features(pairs: Sequence[Pair], attributes: AttributeSet, cache: LogProbCache) -> PairFeatures:
    chosen, rejected = reward_matrices(pairs, attributes, cache)
    base = [[cache.entries[Job(system_prompt(attributes.base, p.system), p.messages, p.prompt, y).key]
             for y in (p.chosen, p.rejected)] for p in pairs]
    base = np.array(base).reshape(len(pairs), 2)
    lengths = np.array([[len(p.chosen), len(p.rejected)] for p in pairs]).reshape(len(pairs), 2)
    statement = attributes.names.index(STATEMENT) if STATEMENT in attributes.names else None
    return PairFeatures(chosen, rejected, base[:, 0], base[:, 1], lengths[:, 0], lengths[:, 1], statement)


def logistic_on_labels(chosen: np.ndarray, rejected: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """The paper's comparison: logistic regression on absolute win (1) / lose (0) labels of answers."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    X = np.vstack([chosen, rejected])
    scale = np.maximum(np.abs(X).mean(axis=0), 1e-8)
    X = np.hstack([X / scale, np.ones((len(X), 1))])
    sign = np.concatenate([np.ones(len(chosen)), -np.ones(len(rejected))])

    def loss(w):
        margin = sign * (X @ w)
        return -log_expit(margin).sum() + 0.5 * l2 * w[:-1] @ w[:-1], \
            -X.T @ (sign * expit(-margin)) + l2 * np.append(w[:-1], 0.0)

    w = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    return w[:-1] / scale  # the intercept cancels in a pairwise comparison


def method_accuracy(method: str, features: PairFeatures, train: np.ndarray, test: np.ndarray) -> float:
    """Held-out pairwise accuracy of one method (ties count half)."""
    def compare(margin: np.ndarray) -> float:
        return float(np.mean((margin > 0) + 0.5 * (margin == 0)))

    if method == STATEMENT_METHOD:
        differences = features.chosen - features.rejected
        return pairwise_accuracy(differences[test], replayed_weights(differences[train], statement=features.statement))
    features = features.without_statement()  # every other method is measured as without a statement
    differences = features.chosen - features.rejected
    if method == "fit":
        return pairwise_accuracy(differences[test], replayed_weights(differences[train]))
    if method in ("select", "drift", "bt", "contrast"):
        return pairwise_accuracy(differences[test], solve(differences[train], method))
    if method == "auto":  # what `profile fit --solver auto` would keep, chosen by CV on the train pairs only
        return pairwise_accuracy(differences[test], replayed_weights(differences[train], "auto"))
    if method == "logreg":
        weights = logistic_on_labels(features.chosen[train], features.rejected[train])
        return pairwise_accuracy(differences[test], weights)
    if method == "logprob":
        return compare(features.base_chosen[test] - features.base_rejected[test])
    if method == "length":
        return compare((features.length_chosen[test] - features.length_rejected[test]).astype(float))
    if method == "chance":
        return 0.5
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(EVAL_METHODS)}")


def learning_curves(user: str, features: PairFeatures, n_train: Sequence[int], n_test: int, seeds: int) -> list[dict]:
    """Mean and spread over seeds of every method's accuracy, for each training size that fits."""
    n = len(features.chosen)
    results = []
    methods = EVAL_METHODS + ((STATEMENT_METHOD,) if features.statement is not None else ())
    for size in n_train:
        if size + n_test > n:
            continue
        for method in methods if size else [m for m in methods if m in (STATEMENT_METHOD, "chance")]:
            accuracies = []
            for seed in range(seeds):
                order = np.random.default_rng(seed).permutation(n)
                accuracies.append(method_accuracy(method, features, order[:size], order[n - n_test:]))
            results.append({"user": user, "method": method, "n_train": size,
                            "accuracy_mean": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies)),
                            "n_test": n_test, "seeds": seeds})
    return results


def markdown_table(results: list[dict]) -> str:
    """One row per user and method, cells mean ± std over seeds; with several users, their means last."""
    sizes = sorted({r["n_train"] for r in results})
    users = list(dict.fromkeys(r["user"] for r in results))
    methods = list(dict.fromkeys(r["method"] for r in results))
    lines = ["| user | method | " + " | ".join(f"n={s}" for s in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for user in users:
        for method in methods:
            cells = {r["n_train"]: f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}" for r in results
                     if r["user"] == user and r["method"] == method}
            lines.append(f"| {user} | {method} | " + " | ".join(cells.get(s, "") for s in sizes) + " |")
    if len(users) > 1:
        for method in methods:
            cells = []
            for size in sizes:
                means = [r["accuracy_mean"] for r in results if r["method"] == method and r["n_train"] == size]
                cells.append(f"**{np.mean(means):.3f}**" if len(means) == len(users) else "")
            lines.append(f"| **mean of {len(users)}** | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(results: list[dict], path: Path) -> bool:
    """A PNG learning curve per user; False when matplotlib (the `eval` extra) is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    users = list(dict.fromkeys(r["user"] for r in results))
    methods = list(dict.fromkeys(r["method"] for r in results))
    figure, axes = plt.subplots(1, len(users), figsize=(4 * len(users), 3.2), squeeze=False)
    for axis, user in zip(axes[0], users):
        for method in methods:
            rows = sorted((r for r in results if r["user"] == user and r["method"] == method), key=lambda r: r["n_train"])
            axis.errorbar([r["n_train"] for r in rows], [r["accuracy_mean"] for r in rows],
                          yerr=[r["accuracy_std"] for r in rows], label=method, marker="o", capsize=2)
        axis.set_title(user)
        axis.set_xlabel("training pairs")
        axis.set_ylabel("held-out accuracy")
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def evaluate_prefs(engine, data: Path, fmt: str, attributes: AttributeSet, n_train: Sequence[int], n_test: int,
                   seeds: int, users: Sequence[str] | None = None, cache_path: Path | None = None,
                   max_response_tokens: int = DEFAULT_MAX_RESPONSE_TOKENS, progress_factory=None,
                   position_decay: float = DEFAULT_POSITION_DECAY, statements: dict[str, str] | None = None
                   ) -> list[dict]:
    """Score what the cache lacks (checkpointing it), then every method's learning curve per user; a user with a
    statement (`statements`: user -> sentence) also gets the `fit + statement` curve, from 0 pairs on."""
    from .files import atomic_write

    cache = LogProbCache.load(cache_path, engine.scoring_key, max_response_tokens, position_decay)

    def checkpoint() -> None:
        if cache_path:
            atomic_write(cache_path, json.dumps(cache.to_dict()))

    needed = max(n_train) + n_test
    if fmt == "dsp":
        queries = load_dsp(data)[:needed]
        chosen_users = list(users or DSP_DOMAINS)
        unknown = [u for u in chosen_users if u not in DSP_DOMAINS]
        if unknown:
            raise EdgeDriftError(f"unknown DSP user(s) {', '.join(unknown)}; choose from {', '.join(DSP_DOMAINS)}")
        per_user = {u: dsp_pairs(queries, u, seed=0) for u in chosen_users}
        sets = user_attribute_sets(attributes, per_user, statements)
        for scored in dict.fromkeys(sets.values()):  # the statements are new systems: only they are scored again
            progress = progress_factory(len(queries)) if progress_factory else None
            score_queries(engine, queries, scored, cache, progress, checkpoint)
    elif fmt == "pairs":
        pairs = read_pairs(data).pairs[:needed]
        per_user = {data.name.split(".")[0]: pairs}
        sets = user_attribute_sets(attributes, per_user, statements)
        progress = progress_factory(len(pairs)) if progress_factory else None
        compute_rewards(engine, pairs, next(iter(sets.values())), cache, progress)
        checkpoint()
    else:
        raise EdgeDriftError(f"unknown format {fmt!r}; use pairs or dsp")
    results = []
    for user, pairs in per_user.items():
        if min(n_train) + n_test > len(pairs):
            raise EdgeDriftError(f"{user} has {len(pairs)} pairs, fewer than the smallest --n-train plus --n-test "
                                 f"({min(n_train)} + {n_test}); lower them")
        results += learning_curves(user, pair_features(pairs, sets[user], cache), n_train, n_test, seeds)
    return results


def user_attribute_sets(attributes: AttributeSet, per_user: dict, statements: dict[str, str] | None) -> dict:
    """Each user's attributes: the shared set, with their statement when they gave one."""
    unknown = sorted(set(statements or {}) - set(per_user))
    if unknown:
        raise EdgeDriftError(f"statements for unknown user(s) {', '.join(unknown)}; users here: {', '.join(per_user)}")
    return {u: attributes.with_statement(statements[u]) if statements and u in statements else attributes
            for u in per_user}


def user_pairs(data: Path, fmt: str, user: str | None) -> tuple[str, list[Pair]]:
    """One user's pairs from a pairs file or a DSP-style file (rejected = a seeded other domain)."""
    if fmt == "dsp":
        if user not in DSP_DOMAINS:
            raise EdgeDriftError(f"--user must be one of {', '.join(DSP_DOMAINS)} for DSP data")
        return user, dsp_pairs(load_dsp(data), user, seed=0)
    if fmt == "pairs":
        return user or data.name.split(".")[0], read_pairs(data).pairs
    raise EdgeDriftError(f"unknown format {fmt!r}; use pairs or dsp")


def evaluate_generation_on(engine, data: Path, fmt: str, user: str | None, strategy_names: Sequence[str],
                           n_prompts: int, n_train: int, attributes: AttributeSet, settings,
                           cache_path: Path | None = None, max_response_tokens: int = DEFAULT_MAX_RESPONSE_TOKENS,
                           progress_factory=None, judge_engine=None, embedding_judge: bool = False,
                           beta: float | None = None, position_decay: float = DEFAULT_POSITION_DECAY,
                           solver: str = DEFAULT_SOLVER, skip_prompts: int = 0, statement: str | None = None) -> dict:
    """Fit a profile on the first n_train pairs, answer the n_prompts prompts after the next skip_prompts,
    judge against plain.

    Skipping lets a second run answer prompts an earlier one did not, with the same profile, so the two can be
    pooled (each judged by a judge that never saw its own prompts). The fit is what `profile fit --solver
    SOLVER` does (screening unless the solver is bt or contrast). `beta` overrides the fitted profile's
    steering strength (drift's), as `generate --beta` would. `statement` is the user's sentence, an attribute
    of the profile as `profile say` makes it (with it, n_train may be 0).
    """
    from .assistant import Assistant
    from .judging import evaluate_generation
    from .files import atomic_write

    name, pairs = user_pairs(data, fmt, user)
    first = n_train + skip_prompts
    if first + n_prompts > len(pairs):
        raise EdgeDriftError(f"{name} has {len(pairs)} pairs; --n-train {n_train} + --skip-prompts {skip_prompts} "
                             f"+ --n-prompts {n_prompts} do not fit, lower them")
    train, prompts = pairs[:n_train], [p.prompt for p in pairs[first:first + n_prompts]]
    cache = LogProbCache.load(cache_path, engine.scoring_key, max_response_tokens, position_decay)
    attributes = attributes.with_statement(statement) if statement else attributes
    profile, _ = fit_pairs(engine, name, train, attributes, cache, solver=solver,  # as `profile fit` does
                           max_response_tokens=max_response_tokens, position_decay=position_decay,
                           statement=statement)
    if cache_path:
        atomic_write(cache_path, json.dumps(cache.to_dict()))
    if beta is not None:
        profile.beta = beta
    with Assistant(engine) as assistant:  # borrows the engine; closes the strategies' sLM contexts
        report = evaluate_generation(assistant, profile, pairs, prompts, strategy_names, settings,
                                     progress_factory, judge_engine, embedding_judge)
    report.update(user=name, n_train=n_train, skip_prompts=skip_prompts, beta=profile.beta, solver=profile.solver,
                  statement=statement,
                  profile_top=[a.name for a in profile.selected])
    return report
