"""A fitted weight for the exemplar attribute: does steering toward the user's own answers rank better? (issue 12)

    PYTHONPATH=.:research .venv/bin/python research/studies/exemplar_weight_study.py score ../shared/data/dsp/dsp_dev.json   # ~13 min
    PYTHONPATH=.:research .venv/bin/python research/studies/exemplar_weight_study.py study ../shared/data/dsp/dsp_dev.json [seeds]  # seconds

The exemplar attribute (`attributes.exemplar_prompt`: the base prompt asking for the style of the
openings of 3 answers the user chose) is the one attribute that points *toward* DSP's academy and business
users, whose fitted profiles only point away ("Why academy and business steer less" in docs/RESULTS.md).
`score` scores it, per token up to 64 answer tokens, for each user: the exemplars are the user's chosen
answers to DSP queries 0-2 (`dsp_pairs(seed=0)`, as `eval generate` and `eval prefs` pair them), and the
scored pairs are the user's pairs on queries 3-199, chosen and rejected, so no scored pair is ever quoted.
Output: research/data/dsp_exemplar_token_scores.npz (job keys, float16 log-probs, the model's sha256), the
same format as research/data/dsp_token_scores/ whose base-prompt rows give the rewards.

`study` is pure numpy at the 8-token cut-off (the default then): 40 random splits of each user's 197 scored pairs,
the first n train (n = 10/25/50/100; the 3 quoted pairs are extra training pairs the user gave), the last
97 test, and every method is scored with exactly the weights decoding would mix.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp
from edge_drift.solvers import drift_closed_form, pairwise_accuracy, select_top

from common import N_QUERIES, exemplar_prompt, prompt_differences, score_user_prompts, weights_of  # noqa: E402

SCORES = Path("research/data/dsp_exemplar_token_scores.npz")
N_EXEMPLARS = 3
MAX_TOKENS = 64
CUTOFF = 8
SIZES = (10, 25, 50, 100)
N_TEST = 97


def exemplar_setup(data: str, user: str):
    """The user's exemplar system prompt and the pairs it scores (queries 3-199, none of them quoted)."""
    pairs = dsp_pairs(load_dsp(data)[:N_QUERIES], user, seed=0)
    prompt = exemplar_prompt(load_attribute_set().base, [p.chosen for p in pairs[:N_EXEMPLARS]])
    return prompt, pairs[N_EXEMPLARS:]




def score(data: str) -> None:
    score_user_prompts({user: exemplar_setup(data, user) for user in DSP_DOMAINS}, SCORES)




def exemplar_differences(data: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per user: (200, 48) attribute differences (the 3 quoted pairs first) and (197,) exemplar differences
    of the other pairs, 8-token flat sums."""
    return prompt_differences(data, {user: exemplar_setup(data, user) for user in DSP_DOMAINS}, SCORES)




def fitted_exemplar_weights(D: np.ndarray, e: np.ndarray, kept: list[int]) -> np.ndarray:
    """Drift's closed form over the kept attributes' differences and the exemplar's: len(kept) + 1 weights."""
    return drift_closed_form(np.column_stack([D[:, kept], e]))


def with_exemplar(D: np.ndarray, e: np.ndarray, method: str, quoted: np.ndarray) -> np.ndarray:
    """Weights over the 48 attributes + the exemplar (last), at most 8 non-zero: what decoding would mix.

    D and e are the training pairs that the exemplars do not quote; `quoted` are the 3 quoted pairs'
    48 attribute differences, which a profile without the exemplar attribute can train on instead."""
    X = np.column_stack([D, e])
    weights = np.zeros(X.shape[1])
    fit = weights_of("fit", D)
    kept = list(np.flatnonzero(fit))
    if method == "fit (the default, 48 attributes)":
        weights[:-1] = fit
    elif method == "select over the 48":
        weights[:-1] = select_top(D, 7)
    elif method == "select over the 48, + the 3 quoted pairs as training pairs":
        weights[:-1] = select_top(np.vstack([quoted, D]), 7)
    elif method == "select over the 48 + exemplar":
        weights = select_top(X, 7)
    elif method == "exemplar alone":
        weights[-1] = 1.0
    elif method == "fit's 7 + exemplar, closed form (fitted weight)":
        weights[kept + [-1]] = fitted_exemplar_weights(D, e, kept)
    elif method == "fit's 7 + exemplar at mean |w| (the forced weight)":
        weights[:-1] = fit
        weights[-1] = np.abs(fit[kept]).mean()
    elif method == "fitted exemplar only when every weight is negative":
        if np.all(fit[kept] < 0):
            weights[kept + [-1]] = fitted_exemplar_weights(D, e, kept)
        else:
            weights[:-1] = fit
    elif method == "select's 6 + exemplar, closed form":
        keep = list(np.flatnonzero(select_top(D, 6))) + [X.shape[1] - 1]
        weights[keep] = drift_closed_form(X[:, keep])
    else:
        raise ValueError(method)
    return weights


METHODS = ("fit (the default, 48 attributes)", "select over the 48", "select over the 48, + the 3 quoted pairs as training pairs",
           "select over the 48 + exemplar", "exemplar alone",
           "fit's 7 + exemplar, closed form (fitted weight)", "fit's 7 + exemplar at mean |w| (the forced weight)",
           "fitted exemplar only when every weight is negative", "select's 6 + exemplar, closed form")


def study(data: str, seeds: int) -> None:
    per_user = exemplar_differences(data)
    print(f"{seeds} random splits of each user's {len(next(iter(per_user.values()))[1])} scored pairs, "
          f"{N_TEST} held out, {CUTOFF}-token answers; mean of the 4 users, then each user at n=50\n")
    print("| method | " + " | ".join(f"n={n}" for n in SIZES) + " | " + " | ".join(u[:4] + "@50" for u in per_user) + " |")
    print("|---|" + "---|" * (len(SIZES) + len(per_user)))
    exemplar_weights = {user: [] for user in per_user}
    for method in METHODS:
        cells, at50 = [], {}
        for size in SIZES:
            scores = {}
            for user, (D_all, e) in per_user.items():
                quoted, D = D_all[:N_EXEMPLARS], D_all[N_EXEMPLARS:]
                X, n = np.column_stack([D, e]), len(e)
                accuracy = []
                for seed in range(seeds):
                    order = np.random.default_rng(seed).permutation(n)
                    train, test = order[:size], order[n - N_TEST:]
                    w = with_exemplar(D[train], e[train], method, quoted)
                    accuracy.append(pairwise_accuracy(X[test], w))
                    if size == 50 and method.startswith("fit's 7 + exemplar, closed"):
                        exemplar_weights[user].append(w[-1])
                scores[user] = np.mean(accuracy)
            cells.append(f"{np.mean(list(scores.values())):.3f}")
            if size == 50:
                at50 = scores
        print(f"| {method} | " + " | ".join(cells) + " | " + " | ".join(f"{at50[u]:.3f}" for u in per_user) + " |",
              flush=True)
    print("\nfitted exemplar weight at n=50 (mean over splits; the forced run used +0.36): " +
          ", ".join(f"{u} {np.mean(w):+.2f}" for u, w in exemplar_weights.items()))
    for user, (_, e) in per_user.items():
        print(f"{user}: exemplar difference mean {e.mean():+.3f}, t {e.mean() / e.std():+.2f}, alone "
              f"{pairwise_accuracy(e[:, None], np.ones(1)):.3f} on all {len(e)} pairs")


if __name__ == "__main__":
    if sys.argv[1] == "score":
        score(sys.argv[2])
    else:
        study(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 40)
