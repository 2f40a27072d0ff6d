"""An attribute written from the user's own pairs: does it rank, and does it point toward the user? (issue 12)

    PYTHONPATH=.:research .venv/bin/python research/studies/written_attribute_study.py score ../shared/data/dsp/dsp_dev.json          # 10 min
    PYTHONPATH=.:research .venv/bin/python research/studies/written_attribute_study.py score-reverse ../shared/data/dsp/dsp_dev.json  # 10 min
    PYTHONPATH=.:research .venv/bin/python research/studies/written_attribute_study.py study ../shared/data/dsp/dsp_dev.json          # 5 s

The written attribute (`attributes.written_prompt`) is the base prompt plus the 12 words whose presence most
separates the user's chosen answers from the rejected ones (`attributes.distinctive_words`), written from the
user's first 50 DSP pairs (`dsp_pairs(seed=0)`): the pairs `eval generate` fits its profiles on. `score`
scores it on all 200 of the user's pairs of queries 0-199, per token up to 64 answer tokens, into
research/data/dsp_written_token_scores.npz (same format as research/data/dsp_token_scores/, whose base-prompt rows
give the rewards). `score-reverse` does the same for the reverse prompt, the same template written from the
rejected answers' words (research/data/dsp_written_reverse_token_scores.npz): "written rather than reverse" is a
contrast in which the base prompt and the template cancel, mixed as +w on written and -w on reverse.

`study` is pure numpy at the 8-token cut-off (the default then). Training pairs are the 50 that wrote the attribute (a
user who gave 50 pairs has exactly these); test pairs are the other 150. So the written attribute is
in-sample on its training pairs, and any weight fitted there overstates it; the test pairs judge it fairly.
"""
from __future__ import annotations

import sys

import numpy as np

from edge_drift.attributes import load_attribute_set
from edge_drift.evaluation import DSP_DOMAINS, dsp_pairs, load_dsp
from edge_drift.solvers import drift_closed_form, select_top

from common import (N_QUERIES, distinctive_words, prompt_differences, score_user_prompts, weights_of,  # noqa: E402
                    written_prompt)

SCORES = "research/data/dsp_written_token_scores.npz"
REVERSE_SCORES = "research/data/dsp_written_reverse_token_scores.npz"
N_WRITERS = 50  # the training pairs: `eval generate --n-train 50` fits on the same ones


def written_setup(data: str, user: str, reverse: bool = False):
    """The user's written system prompt (from their first 50 pairs) and the 200 pairs it is scored on.

    `reverse` writes the same template from the rejected answers' words instead: "written rather than
    reverse" is a contrast in which the base prompt, and the template, cancel."""
    pairs = dsp_pairs(load_dsp(data)[:N_QUERIES], user, seed=0)
    chosen, rejected = [p.chosen for p in pairs[:N_WRITERS]], [p.rejected for p in pairs[:N_WRITERS]]
    prompt = written_prompt(load_attribute_set().base, *((rejected, chosen) if reverse else (chosen, rejected)))
    return prompt, pairs


def written_weights(D: np.ndarray, w: np.ndarray, v: np.ndarray, method: str) -> np.ndarray:
    """Weights over the 48 attributes, the written one and its reverse (last two), at most 8 attributes with
    a non-zero weight (a contrast counts as one, mixed as +c and -c): what decoding would mix."""
    X, c = np.column_stack([D, w, v]), w - v
    weights = np.zeros(X.shape[1])
    with_written, with_contrast = np.column_stack([D, w]), np.column_stack([D, c])
    if method == "fit (the default, 48 attributes)":
        weights[:-2] = weights_of("fit", D)
    elif method == "select over the 48":
        weights[:-2] = select_top(D, 7)
    elif method == "select over the 48 + written":
        weights[:-1] = select_top(with_written, 7)
    elif method == "written alone":
        weights[-2] = 1.0
    elif method == "fit's 7 + written, closed form":
        kept = list(np.flatnonzero(weights_of("fit", D))) + [D.shape[1]]
        weights[kept] = drift_closed_form(with_written[:, kept])
    elif method == "select's 6 + written, closed form":
        kept = list(np.flatnonzero(select_top(D, 6))) + [D.shape[1]]
        weights[kept] = drift_closed_form(with_written[:, kept])
    elif method == "written rather than reverse, alone":
        weights[-2:] = (1.0, -1.0)
    elif method == "select over the 48 + the contrast":
        chosen = select_top(with_contrast, 7)
        weights[:-2], weights[-2:] = chosen[:-1], (chosen[-1], -chosen[-1])
    elif method in ("select's 6 + the contrast, closed form", "fit's 7 + the contrast, closed form"):
        others = select_top(D, 6) if method.startswith("select") else weights_of("fit", D)
        kept = list(np.flatnonzero(others)) + [D.shape[1]]
        fitted = np.zeros(D.shape[1] + 1)
        fitted[kept] = drift_closed_form(with_contrast[:, kept])
        weights[:-2], weights[-2:] = fitted[:-1], (fitted[-1], -fitted[-1])
    else:
        raise ValueError(method)
    return weights


METHODS = ("fit (the default, 48 attributes)", "select over the 48", "select over the 48 + written", "written alone",
           "fit's 7 + written, closed form", "select's 6 + written, closed form", "written rather than reverse, alone",
           "select over the 48 + the contrast", "select's 6 + the contrast, closed form",
           "fit's 7 + the contrast, closed form")


def bootstrap_interval(correct: np.ndarray, draws: int = 2000) -> tuple[float, float]:
    """95% percentile interval of the mean of per-pair 0/0.5/1 outcomes."""
    rng = np.random.default_rng(0)
    means = correct[rng.integers(len(correct), size=(draws, len(correct)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def study(data: str) -> None:
    setups = {user: written_setup(data, user) for user in DSP_DOMAINS}
    written = prompt_differences(data, setups, SCORES)
    reverse = prompt_differences(data, {user: written_setup(data, user, reverse=True) for user in DSP_DOMAINS},
                                 REVERSE_SCORES)
    per_user = {user: (D, w, reverse[user][1]) for user, (D, w) in written.items()}
    fitted_weight = {}
    print(f"train: each user's first {N_WRITERS} pairs (they wrote the attribute); test: the other "
          f"{N_QUERIES - N_WRITERS}; 8-token answers; accuracy with the weights decoding would mix\n")
    print("| method | mean | " + " | ".join(DSP_DOMAINS) + " |")
    print("|---|---|" + "---|" * len(DSP_DOMAINS))
    for method in METHODS:
        cells = {}
        for user, (D, w, v) in per_user.items():
            weights = written_weights(D[:N_WRITERS], w[:N_WRITERS], v[:N_WRITERS], method)
            margins = np.column_stack([D, w, v])[N_WRITERS:] @ weights
            correct = (margins > 0) + 0.5 * (margins == 0)
            low, high = bootstrap_interval(correct)
            cells[user] = f"{correct.mean():.3f} [{low:.2f}, {high:.2f}]"
            if method.endswith("closed form"):
                others = np.abs(weights[:-2][weights[:-2] != 0]).mean()
                fitted_weight[user, method] = f"{weights[-2]:+.2f} (others' mean |w| {others:.2f})"
        mean = np.mean([float(c.split()[0]) for c in cells.values()])
        print(f"| {method} | {mean:.3f} | " + " | ".join(cells[u] for u in DSP_DOMAINS) + " |")
    print()
    writers = {user: dsp_pairs(load_dsp(data)[:N_QUERIES], user, seed=0)[:N_WRITERS] for user in per_user}
    for user, (D, w, v) in per_user.items():
        chosen, rejected = [p.chosen for p in writers[user]], [p.rejected for p in writers[user]]
        print(f"{user}: written {', '.join(distinctive_words(chosen, rejected))}; "
              f"reverse {', '.join(distinctive_words(rejected, chosen))}")
        for name, feature in (("written", w), ("written rather than reverse", w - v)):
            print(f"  {name}: mean difference / std on test pairs {t_of(feature[N_WRITERS:]):+.2f}, "
                  f"on training pairs {t_of(feature[:N_WRITERS]):+.2f}")
        print("  fitted weight: " + ", ".join(f"{m} {fitted_weight[user, m]}" for m in METHODS if m.endswith("closed form")))


def t_of(feature: np.ndarray) -> float:
    return float(feature.mean() / feature.std())


if __name__ == "__main__":
    if sys.argv[1] == "score":
        score_user_prompts({user: written_setup(sys.argv[2], user) for user in DSP_DOMAINS}, SCORES)
    elif sys.argv[1] == "score-reverse":
        score_user_prompts({user: written_setup(sys.argv[2], user, reverse=True) for user in DSP_DOMAINS}, REVERSE_SCORES)
    else:
        study(sys.argv[2])
