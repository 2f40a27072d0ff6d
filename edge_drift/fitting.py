"""Fitting a profile from A/B pairs: score (with screening), solve, and save it atomically."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .attributes import STATEMENT, AttributeSet
from .errors import PairsError, ProfileError, ProfileNotFoundError
from .pairs import Pair, parse_pair
from .profile import DEFAULT_BETA, DEFAULT_TOP_K, AttributeStat, Profile, check_user_name, now
from .rewards import (DEFAULT_MAX_RESPONSE_TOKENS, DEFAULT_POSITION_DECAY, LogProbCache, ScoringStats,
                      screened_differences)
from .screening import ScreeningPlan, default_plan, screen
from .solvers import DEFAULT_SOLVER, Fit, fit_weights, top_k
from .store import ProfileStore

# A statement counts as this many votes for itself: enough to steer from the start and through the first noisy
# votes, few enough that votes which contradict it soon outweigh it (docs/RESULTS.md, "Cold start from one sentence").
STATEMENT_PRIOR_VOTES = 2


def kept_fit(differences: np.ndarray, kept: np.ndarray, solver: str, k: int) -> Fit:
    """Solve on the kept columns (the attributes scored on every pair); the others, screened out and NaN on some
    pairs, get weight 0 and are never mixed into decoding."""
    fit = fit_weights(differences[:, kept], solver, k)
    weights = np.zeros(differences.shape[1])
    weights[kept] = fit.weights
    return Fit(weights, fit.solver, fit.cv_accuracy)


def replayed_weights(differences: np.ndarray, solver: str = DEFAULT_SOLVER, k: int = DEFAULT_TOP_K,
                     statement: int | None = None, prior_votes: float | None = None) -> np.ndarray:
    """The weights a fit of these pairs stores, from their fully scored differences (pairs x attributes): the
    screening `fit_profile` would do while scoring, replayed on the matrix, then the same solve (and the prior of
    a statement, attribute `statement`). For measurements that score everything once and fit many subsets
    (`eval prefs`, the studies)."""
    weights = np.zeros(differences.shape[1])
    if len(differences):
        result = screen(len(differences), differences.shape[1],
                        lambda rows, columns: differences[np.ix_(rows, columns)], default_plan(solver))
        weights = kept_fit(result.differences, result.kept, solver, k).weights
    if statement is None:
        return weights
    votes = STATEMENT_PRIOR_VOTES if prior_votes is None else prior_votes
    return statement_prior(weights, statement, len(differences), votes)


def statement_prior(weights: np.ndarray, index: int, n_pairs: int, prior_votes: float) -> np.ndarray:
    """A person's own statement (attribute `index`) counted as `prior_votes` votes for itself: the fitted weights
    and the statement alone, blended n_pairs : prior_votes, at unit norm like every solver's. With no pairs it is
    the statement alone; votes that contradict it outweigh it once they outnumber the prior."""
    prior = np.zeros(len(weights))
    prior[index] = 1.0
    norm = np.linalg.norm(weights)
    fitted = weights / norm if norm > 0 else np.zeros(len(weights))
    blended = (n_pairs * fitted + prior_votes * prior) / (n_pairs + prior_votes)
    size = np.linalg.norm(blended)
    return blended / size if size > 0 else blended


def profile_from_differences(user: str, slm: dict, attributes: AttributeSet, differences: np.ndarray,
                             solver: str = DEFAULT_SOLVER, k: int = DEFAULT_TOP_K, kept: np.ndarray | None = None,
                             **fields) -> Profile:
    """Solve the weights from reward differences (n_pairs, n_attributes) and assemble a profile; with `kept`,
    only those columns are fitted (see `kept_fit`)."""
    kept = np.arange(differences.shape[1]) if kept is None else np.asarray(kept)
    if len(differences):
        fit = kept_fit(differences, kept, solver, k)
    else:  # a statement and no votes yet: the statement alone steers
        fit = Fit(np.zeros(differences.shape[1]), DEFAULT_SOLVER if solver == "auto" else solver, None)
    if not np.all(np.isfinite(fit.weights)):
        raise ProfileError("the fit produced non-finite weights; check the pairs file")
    weights = fit.weights
    if STATEMENT in attributes.names:
        weights = statement_prior(weights, attributes.names.index(STATEMENT), len(differences), STATEMENT_PRIOR_VOTES)
    # only attributes with a weight can be selected: a zero weight would steer nothing
    selected = {int(i) for i in top_k(weights, min(k, len(attributes.attributes))) if weights[i] != 0}
    with np.errstate(invalid="ignore"):
        unit = np.nan_to_num(np.nanmean(differences, axis=0)) if len(differences) else np.zeros(len(weights))
    stats = [AttributeStat(a.name, a.prompt, round(float(w), 6), round(float(u), 6), i in selected)
             for i, (a, w, u) in enumerate(zip(attributes.attributes, weights, unit))]
    accuracy = None if fit.cv_accuracy is None else round(fit.cv_accuracy, 4)
    return Profile(user=user, slm=slm, base_prompt=attributes.base, attributes=stats, solver=fit.solver,
                   n_pairs=len(differences), cv_accuracy=accuracy, top_k=k, **fields)


def check_new_pairs(pairs: Sequence[Pair]) -> None:
    for number, pair in enumerate(pairs, 1):
        try:
            parse_pair(pair.to_dict())
        except ValueError as exc:
            raise PairsError(f"new pair {number} (prompt starts {pair.prompt[:40]!r}): {exc}") from None


def plan_from_summary(summary: dict | None) -> ScreeningPlan:
    """The screening plan a profile was fitted with (the default when none is recorded)."""
    if not summary:
        return ScreeningPlan()
    return ScreeningPlan(summary["after_pairs"], summary["keep"], summary["recheck_every"])


def fit_pairs(engine, user: str, pairs: Sequence[Pair], attributes: AttributeSet, cache: LogProbCache, *,
              solver: str = DEFAULT_SOLVER, k: int = DEFAULT_TOP_K, screening: ScreeningPlan | None = None,
              progress: Callable[[int], None] | None = None, **fields) -> tuple[Profile, ScoringStats]:
    """The fit itself: score what the cache lacks (screened), solve, assemble the profile. Nothing is saved:
    `fit_profile` saves it for a user; `eval generate` measures it."""
    screening = screening or default_plan(solver)
    result, stats = screened_differences(engine, pairs, attributes, cache, screening, progress)
    profile = profile_from_differences(user, engine.identity.to_dict(), attributes, result.differences, solver, k,
                                       kept=result.kept, screening=result.summary(attributes.names, screening),
                                       **fields)
    return profile, stats


@dataclass
class FitReport:
    profile: Profile
    path: Path
    stats: ScoringStats
    n_new_pairs: int
    n_duplicates: int
    previous_weights: dict[str, float] | None

    def moves(self, n: int = 3) -> list[tuple[str, float, float]]:
        """The n attributes whose weights moved most in this (re)fit: (name, before, after)."""
        before = self.previous_weights or {}
        moved = sorted(self.profile.attributes, key=lambda a: -abs(a.weight - before.get(a.name, 0.0)))
        return [(a.name, before.get(a.name, 0.0), a.weight) for a in moved[:n]]


def fit_profile(engine, store: ProfileStore, user: str, new_pairs: Sequence[Pair], *,
                attributes: AttributeSet | None = None, incremental: bool = False,
                solver: str = DEFAULT_SOLVER, top_k_attributes: int | None = None,
                screening: ScreeningPlan | None = None,
                max_response_tokens: int | None = None, position_decay: float | None = None,
                preference_text: str | None = None, beta: float | None = None, statement: str | None = None,
                progress_factory: Callable[[int], Callable[[int], None]] | None = None) -> FitReport:
    """Fit (or with incremental=True extend) a user's profile; nothing is written unless it all works.

    Cached log-probs are reused, so only pairs or attributes not seen before are scored. `statement` (how the
    user says they like answers) becomes the attribute `statement`, fitted like the others from a prior of
    STATEMENT_PRIOR_VOTES votes for it; None keeps the profile's, "" removes it. A statement needs no pairs.
    """
    check_user_name(user)
    with store.lock(user):
        previous = store.load(user) if store.exists(user) else None
        if incremental and previous is None:
            raise ProfileNotFoundError(f"no profile for {user!r} yet; create it with `edge-drift profile fit {user} --pairs FILE`")
        if attributes is None:
            attributes = previous.attribute_set if previous is not None else None
        if attributes is None:
            from .attributes import load_attribute_set
            attributes = load_attribute_set()
        if max_response_tokens is None:
            max_response_tokens = previous.max_response_tokens if previous else DEFAULT_MAX_RESPONSE_TOKENS
        if position_decay is None:  # a profile keeps how its answers were weighed until refitted otherwise
            position_decay = previous.position_decay if previous else DEFAULT_POSITION_DECAY
        k = top_k_attributes or (previous.top_k if previous else DEFAULT_TOP_K)
        if beta is None:  # a profile keeps its steering strength until a fit sets another
            beta = previous.beta if previous else DEFAULT_BETA
        if statement is None:  # ... and its statement until one replaces or removes it
            statement = previous.statement if previous else None
        statement = statement.strip() if statement else None
        attributes = attributes.with_statement(statement or None)

        old_pairs = store.load_pairs(user) if incremental else []
        known = {p.key for p in old_pairs}
        added = [p for p in new_pairs if p.key not in known]
        check_new_pairs(added)  # what is saved must load again: refuse here what read_pairs would refuse
        pairs = old_pairs + added
        if not pairs and not statement:
            raise PairsError(f"no pairs to fit {user!r} on; give A/B pairs, or say how you like answers with "
                             f"`edge-drift profile say {user} TEXT`")
        cache = store.load_cache(user, engine.scoring_key, max_response_tokens, position_decay)

        if screening is None:  # a profile keeps the plan it was fitted with, so `add` makes the same choices
            recorded = previous.screening if previous and incremental else None
            screening = plan_from_summary(recorded) if recorded else default_plan(solver)
        progress = progress_factory(len(pairs)) if progress_factory else None
        profile, stats = fit_pairs(
            engine, user, pairs, attributes, cache, solver=solver, k=k, screening=screening, progress=progress,
            beta=beta, max_response_tokens=max_response_tokens,
            position_decay=position_decay, created_at=previous.created_at if previous else now(),
            preference_text=preference_text or (previous.preference_text if previous else None),
            statement=statement or None)
        path = store.save(profile, pairs, cache)
    old_weights = {a.name: a.weight for a in previous.attributes} if previous else None
    return FitReport(profile, path, stats, len(added), len(new_pairs) - len(added), old_weights)
