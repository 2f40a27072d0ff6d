"""Personalized-generation win rates against plain decoding, scored by independent judges (TF-IDF, MiniLM, a GGUF model)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .errors import EdgeDriftError
from .pairs import Pair


class FeatureJudge:
    """A 'gold' preference model with its own representation of answers + logistic Bradley-Terry.

    It never shares the sLM's rewards, so it can judge steered answers without grading its own work.
    Trained on 4/5 of the pairs it is given; `held_out_accuracy` is measured on the other fifth.
    """

    kind = "features+logistic-bt"

    def __init__(self, pairs: Sequence[Pair], seed: int = 0):
        from sklearn.linear_model import LogisticRegression

        if len(pairs) < 10:
            raise EdgeDriftError(f"the judge needs at least 10 pairs to train on, got {len(pairs)}")
        order = np.random.default_rng(seed).permutation(len(pairs))
        held = max(2, len(pairs) // 5)
        train = [pairs[i] for i in order[held:]]
        test = [pairs[i] for i in order[:held]]
        self.prompts_seen = {p.prompt for p in train}
        self.prepare([p.chosen for p in train] + [p.rejected for p in train])
        X = self._differences(train)
        # symmetrise: (chosen - rejected) is a win, its negative a loss; no intercept in a BT model
        self.model = LogisticRegression(fit_intercept=False, C=10.0, max_iter=2000)
        self.model.fit(np.vstack([X, -X]), np.r_[np.ones(len(train)), np.zeros(len(train))])
        self.held_out_accuracy = float(np.mean(self._differences(test) @ self.model.coef_[0] > 0))
        self.n_train = len(train)

    def prepare(self, texts: Sequence[str]) -> None:
        """Fit the representation itself, on the training answers only (nothing to fit by default)."""

    def features(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def _differences(self, pairs: Sequence[Pair]) -> np.ndarray:
        return self.features([p.chosen for p in pairs]) - self.features([p.rejected for p in pairs])

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self.features(list(texts)) @ self.model.coef_[0]

    def margins(self, prompts: Sequence[str], answers: Sequence[str], others: Sequence[str],
                progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Positive where the judge prefers the answer to the other answer of the same prompt."""
        return self.scores(answers) - self.scores(others)

    def report(self) -> dict:
        return {"kind": self.kind, "train_pairs": self.n_train, "held_out_accuracy": self.held_out_accuracy}


class TfidfJudge(FeatureJudge):
    """Word and bigram TF-IDF of the answers: what they say and how they word it."""

    kind = "tfidf+logistic-bt"

    def prepare(self, texts: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
        self.vectorizer.fit(texts)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return self.vectorizer.transform(list(texts)).toarray()


class EmbeddingJudge(FeatureJudge):
    """all-MiniLM-L6-v2 sentence embeddings of the answers (edge_drift.sentence_embeddings): a second
    representation, learned on other data than either the sLM or the user's pairs."""

    kind = "minilm+logistic-bt"

    def __init__(self, pairs: Sequence[Pair], encoder=None, seed: int = 0):
        from .sentence_embeddings import MiniLM

        self.encoder = encoder or MiniLM()
        self._memo: dict[str, np.ndarray] = {}  # answers recur (each generated answer is judged vs plain)
        super().__init__(pairs, seed)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            self._memo.update(zip(missing, self.encoder.encode(missing)))
        return np.array([self._memo[t] for t in texts])


JUDGE_INSTRUCTIONS = ("You predict which of two answers one particular user prefers. Here are earlier choices "
                      "of this user.")


class PromptedJudge:
    """A separate GGUF chat model, shown a few of the user's own choices, asked "A or B?" per comparison.

    The verdict is the probability of the next token being "A" vs "B". Each comparison is asked in
    both orders and the two probabilities averaged, which cancels the position bias of small models.
    """

    def __init__(self, engine, examples: Sequence[Pair], excerpt_chars: int = 400):
        self.engine = engine
        self.examples = list(examples)
        self.excerpt_chars = excerpt_chars
        probe = [{"role": "user", "content": "?"}]
        self.letter_tokens = [engine.reply_tokens(probe, letter)[0] for letter in ("A", "B")]
        if self.letter_tokens[0] == self.letter_tokens[1]:
            raise EdgeDriftError(f"the judge model {engine.path.name} does not tell 'A' from 'B' in one token")

    def _excerpt(self, text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= self.excerpt_chars else text[:self.excerpt_chars] + " ..."

    def _messages(self, prompt: str, first: str, second: str) -> list[dict]:
        shown = "\n\n".join(f"Question: {self._excerpt(p.prompt)}\nPreferred: {self._excerpt(p.chosen)}\n"
                             f"Not preferred: {self._excerpt(p.rejected)}" for p in self.examples)
        question = (f"Question: {self._excerpt(prompt)}\n\nAnswer A: {self._excerpt(first)}\n\n"
                    f"Answer B: {self._excerpt(second)}\n\nWhich answer does this user prefer? Reply A or B.")
        return [{"role": "system", "content": f"{JUDGE_INSTRUCTIONS}\n\n{shown}"},
                {"role": "user", "content": question}]

    def _first_preferred(self, ctx, prompt: str, first: str, second: str) -> float:
        prefix = self.engine.chat_tokens(self._messages(prompt, first, second))
        if len(prefix) >= ctx.n_ctx_per_seq:
            raise EdgeDriftError(f"a judge prompt has {len(prefix)} tokens, more than the judge context; "
                                 "judge fewer examples or shorter answers")
        log_a, log_b = (scores[0] for scores in ctx.score([(prefix, [t]) for t in self.letter_tokens]))
        return float(1.0 / (1.0 + np.exp(log_b - log_a)))

    def margins(self, prompts: Sequence[str], answers: Sequence[str], others: Sequence[str],
                progress: Callable[[int], None] | None = None) -> np.ndarray:
        """P(answer preferred) - 0.5, averaged over both presentation orders."""
        margins = []
        with self.engine.context(2, 4096) as ctx:
            for p, a, o in zip(prompts, answers, others):
                margins.append((self._first_preferred(ctx, p, a, o) + 1.0 - self._first_preferred(ctx, p, o, a)) / 2 - 0.5)
                if progress:
                    progress(1)
        return np.array(margins)


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


def win_rates(judge, prompts: Sequence[str], plain: Sequence[str], answers: dict[str, Sequence[str]],
              progress: Callable[[int], None] | None = None) -> list[WinRate]:
    rates = []
    for name, texts in answers.items():
        margin = judge.margins(prompts, texts, plain, progress)
        wins = float(np.sum(margin > 0) + 0.5 * np.sum(margin == 0))
        low, high = wilson_interval(wins, len(texts))
        rates.append(WinRate(name, wins / len(texts), low, high, len(texts)))
    return rates


JUDGE_EXAMPLES = 3  # a prompted judge's context holds a few of the user's choices, not all of them
JUDGE_HELD_OUT = 20  # pairs that measure a prompted judge's own accuracy


def judge_training_pairs(pairs: Sequence[Pair], judged_prompts: Sequence[str]) -> list[Pair]:
    """The user's pairs a judge may learn from: every one whose prompt it will not judge."""
    held_out = set(judged_prompts)
    return [p for p in pairs if p.prompt not in held_out]


def evaluate_generation(assistant, profile, judge_pairs: Sequence[Pair], prompts: Sequence[str],
                        strategy_names: Sequence[str], settings, progress_factory=None, judge_engine=None,
                        embedding_judge: bool = False) -> dict:
    """Answer held-out prompts with plain decoding and each strategy; independent judges say who wins.

    The report keeps every answer, so a later judge can score the same answers without generating them again.
    """
    held_out = set(prompts)
    others = judge_training_pairs(judge_pairs, prompts)
    judges = [TfidfJudge(others)] + ([EmbeddingJudge(others)] if embedding_judge else [])
    assert not any(j.prompts_seen & held_out for j in judges)  # no judge trains on the prompts it judges
    answers: dict[str, list[str]] = {name: [] for name in ["plain", *strategy_names]}
    assistant.pin(profile)
    progress = progress_factory(len(prompts), "generating") if progress_factory else None
    for prompt in prompts:
        for name in answers:
            text, _ = assistant.generate([{"role": "user", "content": prompt}], user=profile.user, strategy=name,
                                         settings=settings)
            answers[name].append(text)
        if progress:
            progress(1)
    report: dict = {"prompts": list(prompts), "answers": dict(answers)}
    plain = answers.pop("plain")
    report.update(judge_report(judges[0], prompts, plain, answers))  # "judge" and "results": TF-IDF's
    if embedding_judge:
        report["embedding_judge"] = judge_report(judges[1], prompts, plain, answers)
    if judge_engine is not None:
        report["gguf_judge"] = prompted_judge_report(judge_engine, others, prompts, plain, answers, progress_factory)
    return report


def judge_report(judge: FeatureJudge, prompts: Sequence[str], plain: Sequence[str],
                 answers: dict[str, Sequence[str]]) -> dict:
    """A feature judge's own held-out accuracy and its win rates of every strategy over plain."""
    return {"judge": judge.report(), "results": [r.to_dict() for r in win_rates(judge, prompts, plain, answers)]}


def prompted_judge_report(engine, pairs: Sequence[Pair], prompts: Sequence[str], plain: Sequence[str],
                          answers: dict[str, Sequence[str]], progress_factory=None) -> dict:
    """Win rates by a GGUF judge shown the user's first pairs, and its accuracy on the next ones."""
    examples, held = pairs[:JUDGE_EXAMPLES], pairs[JUDGE_EXAMPLES:JUDGE_EXAMPLES + JUDGE_HELD_OUT]
    judge = PromptedJudge(engine, examples)
    total = len(held) + len(prompts) * len(answers)
    progress = progress_factory(total, "judging") if progress_factory else None
    accuracy = None
    if held:
        margins = judge.margins([p.prompt for p in held], [p.chosen for p in held], [p.rejected for p in held],
                                progress)
        accuracy = float(np.mean(margins > 0))
    return {"kind": "gguf-prompted-pairwise", "model": engine.path.name, "examples": len(examples),
            "held_out_pairs": len(held), "held_out_accuracy": accuracy,
            "results": [r.to_dict() for r in win_rates(judge, prompts, plain, answers, progress)]}
