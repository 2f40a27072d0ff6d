"""Adaptive attribute screening: score every attribute on a user's first pairs, then only those that carry signal."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

# Measured on DSP (docs/RESULTS.md, "Fitting at interactive speed"): held-out accuracy of the screened
# `select` fit is within 0.01 of the full one at 10/25/50/100 pairs (40 random splits) while a 50-pair
# fit evaluates about a quarter of a naive scorer's tokens.
SCREEN_AFTER_PAIRS = 6
SCREEN_KEEP = 14
RECHECK_EVERY = 25

# score(rows, columns) -> reward differences (len(rows), len(columns)) for those pairs and attributes
Scorer = Callable[[Sequence[int], Sequence[int]], np.ndarray]


@dataclass(frozen=True)
class ScreeningPlan:
    """When to stop scoring every attribute: after `after_pairs` full pairs keep the `keep` strongest.

    Every `recheck_every`-th later pair is scored in full again, so an attribute that was dropped early
    can come back (it is then scored on the pairs it missed). `after_pairs=0` turns screening off.
    """

    after_pairs: int = SCREEN_AFTER_PAIRS
    keep: int = SCREEN_KEEP
    recheck_every: int = RECHECK_EVERY

    def fully_scored(self, row: int) -> bool:
        if not self.after_pairs or row < self.after_pairs:
            return True
        return self.recheck_every > 0 and (row - self.after_pairs + 1) % self.recheck_every == 0

    def to_dict(self) -> dict:
        return {"after_pairs": self.after_pairs, "keep": self.keep, "recheck_every": self.recheck_every}


NO_SCREENING = ScreeningPlan(after_pairs=0)


def default_plan(solver: str) -> ScreeningPlan:
    """Screening for a new fit: on, except for `bt`, whose dense weights rank worse on screened rewards, and
    `contrast`, whose best pairs are rarely the attributes strongest alone (docs/RESULTS.md, "Contrasts")."""
    return NO_SCREENING if solver in ("bt", "contrast") else ScreeningPlan()


def signal_strength(differences: np.ndarray) -> np.ndarray:
    """|t| of each attribute's reward differences (mean over spread): how consistently it tells chosen apart."""
    D = np.asarray(differences, dtype=np.float64)
    if len(D) == 0:
        return np.zeros(D.shape[1])
    spread = D.std(axis=0) if len(D) > 1 else np.abs(D[0])
    return np.abs(D.mean(axis=0)) / (spread + 1e-8)


def strongest(differences: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k attributes with the largest signal strength, in column order (ties: earlier first)."""
    order = np.argsort(-signal_strength(differences), kind="stable")
    return np.sort(order[:k])


@dataclass
class ScreeningResult:
    """Reward differences with NaN where an attribute was not scored, and the columns scored on every pair."""

    differences: np.ndarray
    kept: np.ndarray  # columns complete on every row: the only ones a fit may use
    full_rows: list[int] = field(default_factory=list)

    def summary(self, names: Sequence[str], plan: ScreeningPlan) -> dict:
        """What the profile records: the plan (so `add` repeats it), which attributes were screened out and why."""
        strength = signal_strength(self.differences[self.full_rows])
        kept = set(self.kept.tolist())
        return {**plan.to_dict(), "fully_scored_pairs": len(self.full_rows),
                "screened_out": {names[i]: round(float(strength[i]), 4) for i in range(len(names)) if i not in kept}}


def screen(n_rows: int, n_columns: int, score: Scorer, plan: ScreeningPlan,
           progress: Callable[[int], None] | None = None) -> ScreeningResult:
    """Score rows in order, every column on full rows and only the kept ones on the others.

    The decisions depend only on the rows before them, so adding pairs one at a time reproduces a
    fit of all of them at once.
    """
    D = np.full((n_rows, n_columns), np.nan)
    everything = np.arange(n_columns)
    full_rows: list[int] = []
    kept = everything
    for row in range(n_rows):
        if plan.fully_scored(row):
            D[row] = score([row], everything)[0]
            full_rows.append(row)
            if row + 1 >= plan.after_pairs > 0 and plan.keep < n_columns:
                wanted = strongest(D[full_rows], plan.keep)
                kept = backfill(D, wanted, row, score)
        else:
            D[row, kept] = score([row], kept)[0]
        if progress:
            progress(1)
    return ScreeningResult(D, kept, full_rows)


def backfill(D: np.ndarray, columns: np.ndarray, upto: int, score: Scorer) -> np.ndarray:
    """Score the wanted columns on every earlier row that lacks them (an attribute coming back)."""
    missing_rows = [r for r in range(upto) if np.isnan(D[r, columns]).any()]
    for r in missing_rows:
        lacking = columns[np.isnan(D[r, columns])]
        D[r, lacking] = score([r], lacking)[0]
    return columns
