"""Attribute weights from reward differences: Drift's closed form, on the strongest attributes (`select`) or
attribute contrasts (`contrast`), Bradley-Terry, `auto`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

SOLVERS = ("select", "drift", "bt", "contrast", "auto")
DEFAULT_SOLVER = "select"  # docs/RESULTS.md, "Choosing the default solver"
DEFAULT_TOP_K = 7  # attributes a profile keeps and decoding mixes; `select` keeps exactly these
AUTO_MIN_PAIRS = 10  # below this, cross-validation folds are too small to choose between solvers
BT_L2 = 10.0  # chosen on DSP (docs/RESULTS.md, solver study): 1.0 overfits at 10-50 pairs


def drift_closed_form(differences: np.ndarray) -> np.ndarray:
    """argmax_w w.d on ||w|| = 1, with d the summed reward differences: w = d / ||d||."""
    d = np.asarray(differences, dtype=np.float64).sum(axis=0)
    norm = np.linalg.norm(d)
    return d / norm if norm > 0 else np.zeros_like(d)


def rms_scale(differences: np.ndarray) -> np.ndarray:
    """Each feature's RMS (not its std: the mean carries the preference), so one L2 strength fits data
    whose reward differences span orders of magnitude."""
    return np.maximum(np.sqrt((np.asarray(differences) ** 2).mean(axis=0)), 1e-8)


def bradley_terry(differences: np.ndarray, l2: float = BT_L2) -> np.ndarray:
    """Minimise sum log(1 + exp(-D w)) + l2/2 ||w||^2 (L-BFGS), rescaled to unit norm like Drift's."""
    D = np.asarray(differences, dtype=np.float64)
    scale = rms_scale(D)
    X = D / scale

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        margin = X @ w
        value = -log_expit(margin).sum() + 0.5 * l2 * w @ w
        grad = -X.T @ expit(-margin) + l2 * w
        return value, grad

    result = minimize(loss, np.zeros(D.shape[1]), jac=True, method="L-BFGS-B")
    w = result.x / scale
    norm = np.linalg.norm(w)
    return w / norm if norm > 0 else w


def solve(differences: np.ndarray, solver: str, k: int = DEFAULT_TOP_K) -> np.ndarray:
    if solver == "select":
        return select_top(differences, k)
    if solver == "drift":
        return drift_closed_form(differences)
    if solver == "bt":
        return bradley_terry(differences)
    if solver == "contrast":
        return contrast_select(differences, k)
    raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")


def pairwise_accuracy(differences: np.ndarray, weights: np.ndarray) -> float:
    """Share of pairs where the chosen answer scores higher (ties count half)."""
    margin = np.asarray(differences) @ weights
    return float(np.mean((margin > 0) + 0.5 * (margin == 0)))


def cross_validated_accuracy(differences: np.ndarray, solver: str, folds: int = 5, seed: int = 0,
                             k: int = DEFAULT_TOP_K) -> float | None:
    """K-fold held-out pairwise accuracy of the k weights decoding would mix; None with fewer than 4 pairs.

    Every strategy steers (and Best-of-N ranks) with the profile's k selected attributes only, so that
    is what is scored: a dense solver's accuracy with all its weights is never realised (Bradley-Terry's
    top 7 rank DSP pairs at 0.62 where all 48 reach 0.77, docs/RESULTS.md "What a profile steers with").
    """
    n = len(differences)
    if n < 4:
        return None
    folds = min(folds, n)
    order = np.random.default_rng(seed).permutation(n)
    correct = []
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        w = as_decoded(solve(differences[train], solver, k), k)
        correct.append(pairwise_accuracy(differences[fold], w) * len(fold))
    return float(sum(correct) / n)


@dataclass(frozen=True)
class Fit:
    weights: np.ndarray
    solver: str
    cv_accuracy: float | None


def fit_weights(differences: np.ndarray, solver: str = DEFAULT_SOLVER, k: int = DEFAULT_TOP_K) -> Fit:
    """Weights with a cross-validated accuracy (of the k that steer); `auto` keeps the solver that steers best."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    candidates = ["select", "drift", "bt"] if solver == "auto" else [solver]
    if solver == "auto" and len(differences) < AUTO_MIN_PAIRS:
        candidates = ["select", "drift"]  # too few pairs for Bradley-Terry's extra freedom
    scored = [(cross_validated_accuracy(differences, name, k=k), name) for name in candidates]
    # max over (accuracy, preference): ties go to the candidate listed first
    best_accuracy, best = max(scored, key=lambda item: (item[0] if item[0] is not None else -1, -candidates.index(item[1])))
    return Fit(solve(differences, best, k), best, best_accuracy)


def top_k(weights: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest |w_i| (stable: earlier attributes win ties)."""
    order = np.argsort(-np.abs(weights), kind="stable")
    return np.sort(order[:k])


def as_decoded(weights: np.ndarray, k: int) -> np.ndarray:
    """The weights decoding mixes: the k largest |w_i| keep theirs, the others are 0 (a profile's selected ones)."""
    kept = np.zeros_like(weights)
    chosen = top_k(weights, k)
    kept[chosen] = weights[chosen]
    return kept


def select_top(differences: np.ndarray, k: int) -> np.ndarray:
    """Drift's closed form on the k attributes whose reward differences are most consistent (largest |t|).

    The closed form averages every attribute's noise; keeping the few that separate this user's
    choices most reliably (judged on the training pairs only) removes most of it, and the profile
    then steers with exactly the attributes that ranked the pairs.
    """
    from .screening import strongest

    D = np.asarray(differences, dtype=np.float64)
    keep = strongest(D, min(k, D.shape[1]))
    weights = np.zeros(D.shape[1])
    weights[keep] = drift_closed_form(D[:, keep])
    return weights


def contrast_select(differences: np.ndarray, k: int) -> np.ndarray:
    """`select` over single attributes and contrasts of two ("a rather than b": r_a - r_b), k attributes at most.

    Every system prompt moves the sLM's log-probs of both answers a little alike, so attribute rewards
    share noise (and, for some users, all point away from every style: docs/RESULTS.md, "Why academy and
    business steer less"); a contrast cancels what two attributes share, and is still mixable: its
    weight w is +w on a and -w on b, the base prompt cancelling. Features are taken by largest |t| while
    the attributes they use fit in k; Drift's closed form weighs the features taken, and the attribute
    weights are rescaled to unit norm like every solver's.
    """
    from .screening import signal_strength

    D = np.asarray(differences, dtype=np.float64)
    m = D.shape[1]
    first, second = np.triu_indices(m, 1)
    features = np.hstack([D, D[:, first] - D[:, second]])
    taken: list[int] = []
    used: set[int] = set()
    for f in np.argsort(-signal_strength(features), kind="stable"):
        attributes = {int(f)} if f < m else {int(first[f - m]), int(second[f - m])}
        if len(used | attributes) <= k:
            taken.append(int(f))
            used |= attributes
        if len(used) >= min(k, m):
            break
    weights = np.zeros(m)
    for f, w in zip(taken, drift_closed_form(features[:, taken])):
        if f < m:
            weights[f] += w
        else:
            weights[first[f - m]] += w
            weights[second[f - m]] -= w
    norm = np.linalg.norm(weights)
    return weights / norm if norm > 0 else weights
