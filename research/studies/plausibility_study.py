"""Drift win rates over plain with several plausibility masks (docs/RESULTS.md, "Drift's plausibility mask").

    python research/studies/plausibility_study.py literature,academy,business,entertainment 0,0.05,0.01 [N_PROMPTS] > out/plausibility.jsonl

One JSON report per user, as `eval generate --json` prints it, with one strategy per alpha ("drift@ALPHA";
alpha 0 = no mask). Same setup as research/pipeline/dsp_generate.sh: 50-pair default profile from the committed
scores, 40 held-out prompts, 64 tokens, seed 1. About 4 minutes per user and alpha on 2 cores.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import edge_drift.strategies as strategies
from edge_drift.attributes import load_attribute_set
from edge_drift.decoding import SamplingSettings
from edge_drift.engine import Engine
from edge_drift.evaluation import evaluate_generation_on

DATA = Path("../shared/data/dsp/dsp_dev.json")
CACHE = Path("out/dsp_eval/cache.json")


def masked_drift(profile, alpha: float) -> strategies.DriftStrategy:
    """Drift with its mixer's plausibility set to `alpha`, named after it in the report."""
    strategy = strategies.DriftStrategy(profile, plausibility=alpha)
    strategy.name = f"drift@{alpha:g}"
    return strategy


def main(users: list[str], alphas: list[float], n_prompts: int = 40) -> None:
    if not CACHE.is_file():
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(subprocess.run(["gunzip", "-c", "research/data/dsp_scores_32tok.json.gz"], check=True,
                                         capture_output=True).stdout)
    make = strategies.make_strategy

    def make_with_alpha(name, profile=None, **options):  # eval generate builds strategies by name
        if name.startswith("drift@"):
            return masked_drift(profile, float(name[len("drift@"):]))
        return make(name, profile, **options)

    strategies.make_strategy = make_with_alpha
    names = [f"drift@{a:g}" for a in alphas]
    with Engine() as engine:
        for user in users:
            paper_attributes = load_attribute_set(registers=False)  # the study predates the 7 registers
            report = evaluate_generation_on(engine, DATA, "dsp", user, names, n_prompts, 50, paper_attributes,
                                            SamplingSettings(max_tokens=64, seed=1), CACHE)
            print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","), [float(a) for a in sys.argv[2].split(",")], int(sys.argv[3]) if len(sys.argv) > 3 else 40)
