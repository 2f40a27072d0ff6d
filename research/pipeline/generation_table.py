"""A markdown table of `eval generate` reports: per user and pooled win rates over plain, both judges.

    PYTHONPATH=. .venv/bin/python research/pipeline/generation_table.py OUT_DIR_OR_MAP [...]

Each OUT_DIR holds USER.json reports (research/pipeline/dsp_generate.sh's OUT), each MAP (.json.gz, as committed
under research/data/) maps users to reports. Several runs of the same users become one table: runs of other
strategies on the same prompts (e.g. one of drift,prompt and one of panda,args) add columns, and runs of the
same strategy on other prompts (`SKIP_PROMPTS=`, the same profile) add prompts to its cells, each prompt
judged by its own run's judges (trained on pairs whose prompts that run did not answer). Cells: TF-IDF /
MiniLM win rate with its 95% Wilson interval (ties count half); the pooled row counts every prompt of every
user.
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from edge_drift.judging import wilson_interval


def cell(wins: float, n: int) -> str:
    low, high = wilson_interval(wins, n)
    return f"{wins / n:.2f} [{low:.2f}, {high:.2f}]"


def main(folders: list[str]) -> None:
    reports: dict[str, list[dict]] = {}
    for source in map(Path, folders):
        if source.is_dir():
            runs = {p.stem: json.loads(p.read_text()) for p in sorted(source.glob("*.json")) if p.stat().st_size}
        else:
            with gzip.open(source, "rt") as f:
                runs = json.load(f)
        for user, report in runs.items():
            reports.setdefault(user, []).append(report)
    strategies = list(dict.fromkeys(r["strategy"] for runs in reports.values() for run in runs
                                    for r in run["results"]))
    print("| user | judges' held-out acc. (TF-IDF / MiniLM) | " + " | ".join(strategies) + " | profile's attributes |")
    print("|---" * (3 + len(strategies)) + "|")
    pooled = {s: [0.0, 0.0, 0] for s in strategies}  # TF-IDF wins, MiniLM wins, prompts
    for user, runs in reports.items():
        totals: dict[str, list] = {}  # strategy -> TF-IDF wins, MiniLM wins, prompts, prompts answered
        for run in runs:
            minilm = {r["strategy"]: r for r in run["embedding_judge"]["results"]}
            for row in run["results"]:
                n = row["n_prompts"]
                total = totals.setdefault(row["strategy"], [0.0, 0.0, 0, set()])
                if total[3] & set(run["prompts"]):
                    raise SystemExit(f"{user}: two runs answered the same prompts with {row['strategy']}")
                total[0] += row["win_rate"] * n
                total[1] += minilm[row["strategy"]]["win_rate"] * n
                total[2] += n
                total[3] |= set(run["prompts"])
        for strategy, (tfidf, embedding, n, _) in totals.items():
            pooled[strategy] = [a + b for a, b in zip(pooled[strategy], (tfidf, embedding, n))]
        accuracy = ", ".join(dict.fromkeys(f"{run['judge']['held_out_accuracy']:.2f} / "
                                           f"{run['embedding_judge']['judge']['held_out_accuracy']:.2f}" for run in runs))
        cells = {s: f"{cell(t[0], t[2])} / {cell(t[1], t[2])}" for s, t in totals.items()}
        print(f"| {user} | {accuracy} | " + " | ".join(cells.get(s, "") for s in strategies)
              + f" | {', '.join(runs[0]['profile_top'])} |")
    n_prompts = max(t[2] for t in pooled.values())
    print(f"| **all {n_prompts} prompts** | | " + " | ".join(
        f"**{cell(t[0], t[2])} / {cell(t[1], t[2])}**" for t in pooled.values()) + " | |")


if __name__ == "__main__":
    main(sys.argv[1:])
