"""Issue 12: does the TF-IDF judge become trustworthy (>= 0.75 held out) with more of the user's data?

    python research/studies/judge_data_study.py ../shared/data/dsp/dsp_dev.json

Same split as `eval generate` (queries 50-89 are the evaluated prompts and never train the judge; a
fifth of the rest is held out, seed 0), same TF-IDF + logistic Bradley-Terry. "std" trains on the
user's pairs as built everywhere else (one seeded rejected domain per query); "all3" trains on the
user's answer against each of the 3 other domains' answers of the same training queries (3x the
pairs). Both are tested on the same held-out standard pairs, for 3 L2 strengths.
"""
from __future__ import annotations

import json
import sys

import numpy as np
from scipy.sparse import vstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp

EVALUATED = range(50, 90)  # the prompts `research/pipeline/dsp_generate.sh` answers


def accuracy(rows, test_pairs, C: float) -> float:
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit([a for row in rows for a in row])
    X = vectorizer.transform([r[0] for r in rows]) - vectorizer.transform([r[1] for r in rows])
    model = LogisticRegression(fit_intercept=False, C=C, max_iter=3000)
    model.fit(vstack([X, -X]), np.r_[np.ones(X.shape[0]), np.zeros(X.shape[0])])
    X_test = vectorizer.transform([p.chosen for p in test_pairs]) - vectorizer.transform([p.rejected for p in test_pairs])
    return float(np.mean(X_test @ model.coef_[0] > 0))


def main() -> None:
    queries = load_dsp(sys.argv[1])
    for user in DSP_DOMAINS:
        pairs = dsp_pairs(queries, user, seed=0)
        rows = [i for i in range(len(queries)) if i not in EVALUATED]
        order = np.random.default_rng(0).permutation(len(rows))
        held = len(rows) // 5
        test, train = [rows[i] for i in order[:held]], [rows[i] for i in order[held:]]
        others = [d for d in DSP_DOMAINS if d != user]
        data = {"std": [(pairs[i].chosen, pairs[i].rejected) for i in train],
                "all3": [(queries[i].responses[user], queries[i].responses[o]) for i in train for o in others]}
        result = {f"{name} C={C:g}": round(accuracy(rows_, [pairs[i] for i in test], C), 3)
                  for name, rows_ in data.items() for C in (1.0, 10.0, 100.0)}
        print(json.dumps({"user": user, "held_out_pairs": len(test), **result}), flush=True)


if __name__ == "__main__":
    main()
