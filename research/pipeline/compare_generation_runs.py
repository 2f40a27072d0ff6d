"""Win rates of two `eval generate` runs on the same prompts side by side, and the one run's answers judged
against the other's (paired: same prompts and seed; on one machine the plain answers are identical, across
machines each run is judged against its own).

    PYTHONPATH=. .venv/bin/python research/pipeline/compare_generation_runs.py BASELINE.json.gz OTHER_DIR_OR_FILE [STRATEGY]
    PYTHONPATH=. .venv/bin/python research/pipeline/compare_generation_runs.py B1.json.gz,B2.json.gz O1,O2 [STRATEGY]

BASELINE maps each DSP user to a report (as research/data/dsp_generate_80p_drift.json.gz does); OTHER is a
folder of USER.json reports (research/pipeline/dsp_generate.sh's OUT) or another such map. Each judge (TF-IDF, and
MiniLM where the reports have it) is retrained exactly as `eval generate` trains it, on the user's
pairs whose prompts were not generated for. Comma-separated lists pair up (B1 with O1, ...): runs on other
prompts (`eval generate --skip-prompts`), each judged as above, pooled per user and over all.
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from edge_drift.evaluation import dsp_pairs, load_dsp
from edge_drift.judging import EmbeddingJudge, TfidfJudge, judge_training_pairs, wilson_interval

DATA = "../shared/data/dsp/dsp_dev.json"


def load_reports(path: str) -> dict:
    p = Path(path)
    if p.is_dir():
        return {f.stem: json.loads(f.read_text()) for f in sorted(p.glob("*.json")) if f.stat().st_size}
    with gzip.open(p, "rt") if p.suffix == ".gz" else p.open() as f:
        return json.load(f)


def wins(margins) -> float:
    return float((margins > 0).sum() + 0.5 * (margins == 0).sum())


def rate(won: float, n: int) -> str:
    low, high = wilson_interval(won, n)
    return f"{won / n:.2f} [{low:.2f}, {high:.2f}]"


def accumulate(totals: dict, key, row: list[float]) -> None:
    """Adds a row of win counts (and its prompt count) to the totals under key."""
    totals[key] = [x + y for x, y in zip(totals.get(key, [0] * len(row)), row)]


def main(baseline_paths: str, other_paths: str, strategy: str = "drift") -> None:
    queries = load_dsp(DATA)
    encoder = None
    per_user: dict[tuple[str, str], list[float]] = {}  # (user, judge) -> wins of baseline, other (vs plain), other vs baseline, n
    runs = list(zip(baseline_paths.split(","), other_paths.split(",")))
    for baseline_path, other_path in runs:
        baseline, other = load_reports(baseline_path), load_reports(other_path)
        for user in [u for u in baseline if u in other]:
            a, b = baseline[user], other[user]
            assert a["prompts"] == b["prompts"], f"{user}: the two runs answered different prompts"
            prompts, plain, other_plain = a["prompts"], a["answers"]["plain"], b["answers"]["plain"]
            if plain != other_plain:  # sampling is reproducible per machine, not across CPUs
                print(f"{user}: the plain answers differ (runs from different machines); each run is judged "
                      f"against its own plain answers", flush=True)
            others = judge_training_pairs(dsp_pairs(queries, user, seed=0), prompts)
            minilm = EmbeddingJudge(others, encoder=encoder)
            encoder = minilm.encoder
            for judge in (TfidfJudge(others), minilm):
                first, second = a["answers"][strategy], b["answers"][strategy]
                row = [wins(judge.margins(prompts, first, plain)), wins(judge.margins(prompts, second, other_plain)),
                       wins(judge.margins(prompts, second, first)), len(prompts)]
                if len(runs) > 1:
                    report(f"{Path(other_path).name} {user} {judge.kind}", row)
                accumulate(per_user, (user, judge.kind), row)
    pooled: dict[str, list[float]] = {}  # judge -> the same, every user
    for (user, kind), row in per_user.items():
        report(f"{user} {kind}", row)
        accumulate(pooled, kind, row)
    for kind, row in pooled.items():
        report(f"pooled {kind}", row)


def report(label: str, row: list[float]) -> None:
    first, second, head_to_head, n = row
    print(f"{label}: baseline vs plain {rate(first, n)}; other vs plain {rate(second, n)}; "
          f"other vs baseline {rate(head_to_head, n)}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
