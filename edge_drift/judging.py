"""Personalized-generation win rates against plain decoding, scored by an independent TF-IDF judge."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import EdgeDriftError
from .pairs import Pair


class TfidfJudge:
    """A 'gold' preference model with its own representation: TF-IDF features + logistic Bradley-Terry.

    It never shares the sLM's rewards, so it can judge steered answers without grading its own work.
    """

    def __init__(self, pairs: Sequence[Pair], seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len(pairs) < 10:
            raise EdgeDriftError(f"the judge needs at least 10 pairs to train on, got {len(pairs)}")
        order = np.random.default_rng(seed).permutation(len(pairs))
        held = max(2, len(pairs) // 5)
        train = [pairs[i] for i in order[held:]]
        test = [pairs[i] for i in order[:held]]
        self.prompts_seen = {p.prompt for p in train}
        self.vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
        self.vectorizer.fit([p.chosen for p in train] + [p.rejected for p in train])
        X = self._differences(train)
        # symmetrise: (chosen - rejected) is a win, its negative a loss; no intercept in a BT model
        self.model = LogisticRegression(fit_intercept=False, C=10.0, max_iter=2000)
        self.model.fit(np.vstack([X, -X]), np.r_[np.ones(len(train)), np.zeros(len(train))])
        self.held_out_accuracy = float(np.mean(self._differences(test) @ self.model.coef_[0] > 0))
        self.n_train = len(train)

    def _differences(self, pairs: Sequence[Pair]) -> np.ndarray:
        return (self.vectorizer.transform([p.chosen for p in pairs])
                - self.vectorizer.transform([p.rejected for p in pairs])).toarray()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self.vectorizer.transform(list(texts)).toarray() @ self.model.coef_[0]


def wilson_interval(wins: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a win rate (ties count half a win)."""
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class WinRate:
    strategy: str
    win_rate: float
    ci_low: float
    ci_high: float
    n_prompts: int

    def to_dict(self) -> dict:
        return vars(self)


def win_rates(judge: TfidfJudge, plain: Sequence[str], answers: dict[str, Sequence[str]]) -> list[WinRate]:
    plain_scores = judge.scores(plain)
    rates = []
    for name, texts in answers.items():
        margin = judge.scores(texts) - plain_scores
        wins = float(np.sum(margin > 0) + 0.5 * np.sum(margin == 0))
        low, high = wilson_interval(wins, len(texts))
        rates.append(WinRate(name, wins / len(texts), low, high, len(texts)))
    return rates


def evaluate_generation(models, profile, judge_pairs: Sequence[Pair], prompts: Sequence[str],
                        strategy_names: Sequence[str], settings, progress: Callable[[int], None] | None = None) -> dict:
    """Answer held-out prompts with plain decoding and each strategy; the judge says who wins."""
    from .decoding import PlainStrategy, Request, generate_text
    from .strategies import make_strategy

    held_out = set(prompts)
    judge = TfidfJudge([p for p in judge_pairs if p.prompt not in held_out])
    assert not judge.prompts_seen & held_out  # the judge never trains on the prompts it judges
    answers: dict[str, list[str]] = {name: [] for name in ["plain", *strategy_names]}
    strategies = {"plain": PlainStrategy(), **{n: make_strategy(n, profile) for n in strategy_names}}
    for prompt in prompts:
        request = Request([{"role": "user", "content": prompt}], settings=settings)
        for name, strategy in strategies.items():
            answers[name].append(generate_text(models, strategy, request, profile.base_prompt)[0])
        if progress:
            progress(1)
    for strategy in strategies.values():
        strategy.close()
    plain = answers.pop("plain")
    return {"judge": {"kind": "tfidf+logistic-bt", "train_pairs": judge.n_train,
                      "held_out_accuracy": judge.held_out_accuracy},
            "results": [r.to_dict() for r in win_rates(judge, plain, answers)]}
