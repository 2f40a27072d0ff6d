"""Which compare round teaches a profile most: a posterior over its weights, and the attribute it is least sure of.

A profile's votes are Bradley-Terry observations: P(a beats b) = sigmoid(w . (r(a) - r(b))). Around the
regularised fit, a Laplace approximation gives a Gaussian over w; a candidate pair's predicted margin then has a
mean and a variance, and BALD ranks candidates by the information one vote is expected to give (PReF, arXiv
2503.06358, asks the same question of a linear user model; BALD is Houlsby et al., arXiv 1112.5745). A live round
asks about one attribute: its two answers lean toward and away from it (`leaning`). Which rule and why:
docs/RESULTS.md, "Which question to ask".
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from .attributes import AttributeSet
from .errors import EdgeDriftError
from .profile import AttributeStat, Profile
from .solvers import BT_L2, rms_scale

NEWTON_STEPS = 25
# BALD's closed form for a probit link (Houlsby et al. 2011): C = sqrt(pi * ln 2 / 2)
_C = np.sqrt(np.pi * np.log(2) / 2)


@dataclass
class Posterior:
    """A Gaussian over the weights of RMS-scaled reward differences (`scale` maps raw differences to them)."""

    mean: np.ndarray
    covariance: np.ndarray
    scale: np.ndarray

    def margins(self, differences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of each candidate's predicted margin w . x (x: raw differences, one per row)."""
        X = np.asarray(differences, dtype=np.float64) / self.scale
        return X @ self.mean, np.einsum("ij,jk,ik->i", X, self.covariance, X)

    def attribute_spread(self) -> np.ndarray:
        """Each attribute's posterior standard deviation (scaled units: comparable across attributes)."""
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))


def laplace_posterior(differences: np.ndarray, scale: np.ndarray, l2: float = BT_L2) -> Posterior:
    """Regularised Bradley-Terry on labelled differences (chosen - rejected), by Newton's method, and the inverse
    Hessian at its optimum. `scale` is fixed by the caller (e.g. `rms_scale` of the candidate pool), so that a
    profile with no votes yet has the prior: mean 0, covariance I / l2."""
    X = np.asarray(differences, dtype=np.float64).reshape(-1, len(scale)) / scale
    w = np.zeros(len(scale))
    identity = np.eye(len(scale))
    hessian = l2 * identity
    for _ in range(NEWTON_STEPS if len(X) else 0):
        p = expit(X @ w)
        gradient = -X.T @ (1 - p) + l2 * w
        hessian = (X.T * (p * (1 - p))) @ X + l2 * identity
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    if len(X):
        p = expit(X @ w)
        hessian = (X.T * (p * (1 - p))) @ X + l2 * identity
    return Posterior(w, np.linalg.inv(hessian), np.asarray(scale, dtype=np.float64))


def bald(mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Expected information about w from one vote (probit approximation): the entropy of the predicted outcome
    minus the expected entropy given w. High where the model is unsure *because* w is unsure, not where a pair
    is a coin flip for every w."""
    def entropy(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))

    predicted = norm.cdf(mean / np.sqrt(1 + variance))
    expected = _C / np.sqrt(variance + _C ** 2) * np.exp(-mean ** 2 / (2 * (variance + _C ** 2)))
    return entropy(predicted) - expected


@dataclass(frozen=True)
class Question:
    """What a live compare round asks: more or less of one attribute, where one vote should teach the most."""

    attribute: str
    information: float  # expected bits about the weights from one vote (BALD, for a pair one unit apart on it)
    weight: float  # the profile's weight on it now

    def about(self) -> str:
        return f"more {self.attribute} vs less {self.attribute}"


def attribute_questions(differences: np.ndarray, names: list[str], weights: dict[str, float]) -> list[Question]:
    """Each attribute scored on every pair so far, as a question: BALD for a pair that differs by one RMS unit along
    it alone (what two answers steered toward and away from it are made to be). Attributes screened out of the
    fit (unscored on some pairs) are not asked about: the first pairs already found them weak."""
    D = np.asarray(differences, dtype=np.float64).reshape(-1, len(names))
    usable = np.flatnonzero(~np.isnan(D).any(axis=0))
    D = D[:, usable]
    scale = rms_scale(D) if len(D) else np.ones(len(usable))
    posterior = laplace_posterior(D, scale)
    information = bald(posterior.mean, posterior.attribute_spread() ** 2)
    return [Question(names[i], float(info), float(weights.get(names[i], 0.0))) for i, info in zip(usable, information)]


def next_question(differences: np.ndarray, names: list[str], weights: dict[str, float],
                  rng: np.random.Generator) -> Question:
    """The attribute a vote is expected to teach most about (ties, e.g. before any vote, broken at random)."""
    questions = attribute_questions(differences, names, weights)
    best = max(q.information for q in questions)
    return questions[int(rng.choice([i for i, q in enumerate(questions) if q.information >= best - 1e-12]))]


def parse_lean(lean: str, names: list[str]) -> tuple[str, float]:
    """'+concise' / '-concise' -> (name, sign)."""
    name, sign = lean[1:], {"+": 1.0, "-": -1.0}.get(lean[:1])
    if sign is None or name not in names:
        raise EdgeDriftError(f"lean must be +NAME or -NAME for an attribute of the profile ({', '.join(names[:6])}, "
                             f"...), got {lean!r}")
    return name, sign


def leaning(profile: Profile | None, attributes: AttributeSet, lean: str, slm: dict, user: str) -> Profile:
    """The profile tilted toward (+NAME) or away from (-NAME) one attribute, which gets the weight of the profile's
    strongest (1 for an empty profile) with that sign and steers; the two answers of an informative round lean
    opposite ways, so they differ mainly there. The profile on disk is not touched."""
    if profile is not None:
        attributes = profile.attribute_set
    name, sign = parse_lean(lean, attributes.names)
    if profile is None:
        profile = Profile(user=user, slm=slm, base_prompt=attributes.base, solver="select", n_pairs=0,
                          cv_accuracy=None, attributes=[AttributeStat(a.name, a.prompt, 0.0, 0.0, False)
                                                        for a in attributes.attributes])
    strongest = max((abs(a.weight) for a in profile.selected), default=0.0) or 1.0
    stats = [replace(a, weight=sign * strongest, selected=True) if a.name == name else a for a in profile.attributes]
    return replace(profile, attributes=stats)
