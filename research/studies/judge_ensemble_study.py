"""Issue 12: can one judge of TF-IDF and MiniLM features together reach the 0.75 trust bar for every DSP user?

    PYTHONPATH=. .venv/bin/python research/studies/judge_ensemble_study.py ../shared/data/dsp/dsp_dev.json [N_EVALUATED]

For each user, the pairs a judge may learn from in the 80-prompt generation runs (every pair whose
query is not one of the N_EVALUATED=80 generated-for prompts, queries 50-129) are split into 5 folds;
each representation's accuracy is the mean over the 5 held-out folds (every pair held out once, so
320 test pairs per user instead of one fifth). Representations: word+bigram TF-IDF, MiniLM
embeddings, both side by side in one logistic Bradley-Terry model. The MiniLM vectors of the DSP
answers are cached in out/judge_embeddings.npz (5 minutes to encode, then seconds).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp
from edge_drift.judging import judge_training_pairs

FIRST_EVALUATED = 50  # research/pipeline/dsp_generate.sh answers queries 50.. (N_PROMPTS of them)
CACHE = Path("out/judge_embeddings.npz")


def embeddings(texts: list[str]) -> dict[str, np.ndarray]:
    if CACHE.exists():
        stored = np.load(CACHE, allow_pickle=True)
        known = dict(zip(stored["texts"].tolist(), stored["vectors"]))
        if all(t in known for t in texts):
            return known
    from edge_drift.sentence_embeddings import MiniLM

    vectors = MiniLM().encode(texts)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(CACHE, texts=np.array(texts, dtype=object), vectors=vectors)
    return dict(zip(texts, vectors))


def fold_accuracy(chosen: list[str], rejected: list[str], represent, C: float, folds: int = 5) -> float:
    order = np.random.default_rng(0).permutation(len(chosen))
    correct = 0
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        encode = represent([chosen[i] for i in train] + [rejected[i] for i in train])
        X = encode([chosen[i] for i in train]) - encode([rejected[i] for i in train])
        model = LogisticRegression(fit_intercept=False, C=C, max_iter=3000)
        model.fit(np.vstack([X, -X]), np.r_[np.ones(len(train)), np.zeros(len(train))])
        X_test = encode([chosen[i] for i in test]) - encode([rejected[i] for i in test])
        correct += int(np.sum(X_test @ model.coef_[0] > 0))
    return correct / len(chosen)


def main(data: str, n_evaluated: str = "80") -> None:
    queries = load_dsp(data)
    vectors = embeddings(sorted({r for q in queries for r in q.responses.values()}))

    def tfidf(fit_texts):
        vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit(fit_texts)
        return lambda texts: vectorizer.transform(texts).toarray()

    def minilm(fit_texts):
        return lambda texts: np.array([vectors[t] for t in texts])

    def both(fit_texts):
        words, meaning = tfidf(fit_texts), minilm(fit_texts)
        return lambda texts: np.hstack([words(texts), meaning(texts)])

    evaluated = [q.prompt for q in queries[FIRST_EVALUATED:FIRST_EVALUATED + int(n_evaluated)]]
    for user in DSP_DOMAINS:
        pairs = judge_training_pairs(dsp_pairs(queries, user, seed=0), evaluated)
        chosen, rejected = [p.chosen for p in pairs], [p.rejected for p in pairs]
        result = {f"{name} C={C:g}": round(fold_accuracy(chosen, rejected, represent, C), 3)
                  for name, represent in (("tfidf", tfidf), ("minilm", minilm), ("both", both))
                  for C in (1.0, 10.0, 100.0)}
        print(json.dumps({"user": user, "pairs": len(pairs), **result}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
