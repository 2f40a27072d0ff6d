"""Give a profile that only points away one attribute that points toward the user, and judge the steering (issue 12).

    PYTHONPATH=.:research .venv/bin/python research/studies/toward_attribute_study.py ../shared/data/dsp/dsp_dev.json USER N_PROMPTS OUT.json [fitted|written|contrast|contrast-forced]
    SKIP_PROMPTS=160 PYTHONPATH=.:research ...   # the held-out prompts after the first 160, as `eval generate --skip-prompts`

The 8-token profile (the default then) from the user's first 50 DSP pairs (as `eval generate` fits it, from the
cache that `research/pipeline/dsp_generate.sh` builds: out/dsp_eval8_decay1/cache.json), plus an exemplar attribute
(the base prompt asking for the style of the openings of 3 of the user's own chosen training answers,
`attributes.exemplar_prompt`) forced into the steering set with a positive weight equal to the mean
|weight| of the 7 selected. Nothing is scored: the forced weight is a choice, not a fit. With `fitted`, the
8 weights are instead Drift's closed form over the 7 and the exemplar on training pairs 3-49 (the ones the
exemplars do not quote), from the exemplar scores committed by `research/studies/exemplar_weight_study.py score`
(research/data/dsp_exemplar_token_scores.npz; the same exemplars). With `written`, the added attribute is
instead the one written from the 50 training pairs (`attributes.written_prompt`), and the 8 weights are
Drift's closed form over the 7 and it on those pairs, from the scores committed by
`research/studies/written_attribute_study.py score` (research/data/dsp_written_token_scores.npz). With `contrast`, it adds
the written attribute with +w and its reverse (the same template written from the rejected answers' words)
with -w, w fitted on the contrast "written rather than reverse" (its scores:
research/data/dsp_written_reverse_token_scores.npz); `contrast-forced` keeps the 7 weights and gives the
contrast the mean |weight| of the 7, as the forced exemplar run did. Drift answers the
next N_PROMPTS prompts (same seed and settings as `eval generate`), judged against plain by TF-IDF and
MiniLM; the report is a USER.json like `eval generate --json`'s, so `compare_generation_runs.py` pairs it
with the 8-token run (research/data/dsp_generate_160p_drift_8tok.json.gz).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from edge_drift.assistant import Assistant
from edge_drift.attributes import load_attribute_set
from edge_drift.decoding import SamplingSettings
from edge_drift.engine import Engine
from edge_drift.evaluation import user_pairs
from edge_drift.fitting import fit_pairs
from edge_drift.judging import evaluate_generation
from edge_drift.profile import AttributeStat
from edge_drift.rewards import LogProbCache
from common import exemplar_prompt, written_prompt  # noqa: E402

CACHE = Path("out/dsp_eval8_decay1/cache.json")
N_TRAIN = 50
N_EXEMPLARS = 3


def fit_exemplar_weight(data: str, user: str, profile, names: list[str]) -> float:
    """Refit the selected weights with the exemplar attribute (closed form on training pairs 3-49); its weight."""
    from exemplar_weight_study import N_EXEMPLARS as QUOTED, exemplar_differences, fitted_exemplar_weights

    assert QUOTED == N_EXEMPLARS
    D, e = exemplar_differences(data)[user]
    kept = [names.index(a.name) for a in profile.selected]
    # training pairs 3-49: the exemplar's scores start after the quoted pairs, D's include them
    weights = fitted_exemplar_weights(D[N_EXEMPLARS:N_TRAIN], e[:N_TRAIN - N_EXEMPLARS], kept)
    for stat, w in zip(profile.selected, weights[:-1]):
        stat.weight = round(float(w), 6)
    return float(weights[-1])


def fit_written_weight(data: str, user: str, profile, names: list[str], contrast: bool) -> float:
    """Refit the selected weights with the written attribute, or with "written rather than reverse" (closed
    form on the 50 training pairs, which wrote both prompts); the added feature's weight."""
    from exemplar_weight_study import fitted_exemplar_weights, prompt_differences
    from written_attribute_study import N_WRITERS, REVERSE_SCORES, SCORES, written_setup

    assert N_WRITERS == N_TRAIN
    D, feature = prompt_differences(data, {user: written_setup(data, user)}, SCORES)[user]
    if contrast:
        feature = feature - prompt_differences(data, {user: written_setup(data, user, reverse=True)}, REVERSE_SCORES)[user][1]
    kept = [names.index(a.name) for a in profile.selected]
    weights = fitted_exemplar_weights(D[:N_TRAIN], feature[:N_TRAIN], kept)
    for stat, weight in zip(profile.selected, weights[:-1]):
        stat.weight = round(float(weight), 6)
    return float(weights[-1])


def main() -> None:
    data, user, n_prompts, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    engine = Engine()
    attributes = load_attribute_set()
    name, pairs = user_pairs(Path(data), "dsp", user)
    first = N_TRAIN + int(os.environ.get("SKIP_PROMPTS", "0"))
    train, prompts = pairs[:N_TRAIN], [p.prompt for p in pairs[first:first + n_prompts]]
    cache = LogProbCache.load(CACHE, engine.scoring_key, 8, 1.0)
    profile, stats = fit_pairs(engine, name, train, attributes, cache, max_response_tokens=8, position_decay=1.0)
    assert stats.jobs_scored == 0, f"{CACHE} lacks scores: run research/pipeline/dsp_generate.sh once (CUTOFF=8 DECAY=1)"
    mode = sys.argv[5] if len(sys.argv) > 5 else "forced"
    chosen, rejected = [p.chosen for p in train], [p.rejected for p in train]
    if mode in ("written", "contrast", "contrast-forced"):
        weight = (float(np.mean([abs(a.weight) for a in profile.selected])) if mode == "contrast-forced"
                  else fit_written_weight(data, name, profile, attributes.names, contrast=mode == "contrast"))
        added, prompt = "written", written_prompt(attributes.base, chosen, rejected)
        if mode.startswith("contrast"):  # mixed as +w and -w: the base prompt and the template cancel
            reverse = written_prompt(attributes.base, rejected, chosen)
            profile.attributes.append(AttributeStat("written_reverse", reverse, round(-weight, 6), 0.0, True))
    else:
        weight = (fit_exemplar_weight(data, name, profile, attributes.names) if mode == "fitted"
                  else float(np.mean([abs(a.weight) for a in profile.selected])))
        added, prompt = "exemplars", exemplar_prompt(attributes.base, [p.chosen for p in train[:N_EXEMPLARS]])
    profile.attributes.append(AttributeStat(added, prompt, round(weight, 6), 0.0, True))
    with Assistant(engine) as assistant:
        report = evaluate_generation(assistant, profile, pairs, prompts, ["drift"], SamplingSettings(max_tokens=64, seed=1),
                                     embedding_judge=True)
    report.update(user=name, n_train=N_TRAIN, skip_prompts=first - N_TRAIN, beta=profile.beta, solver=profile.solver,
                  profile_top=[f"{a.name} {a.weight:+.2f}" for a in profile.selected], added_weight=weight, added=added)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report))
    print(json.dumps({k: report[k] for k in ("user", "profile_top", "results")}, indent=1))


if __name__ == "__main__":
    main()
