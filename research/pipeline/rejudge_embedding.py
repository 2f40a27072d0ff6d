"""Judge committed `eval generate` answers again with the MiniLM embedding judge, without generating them again.

    PYTHONPATH=. .venv/bin/python research/pipeline/rejudge_embedding.py ../shared/data/dsp/dsp_dev.json \
        research/data/dsp_generate_80p_drift.json.gz [out.json.gz]

The report file maps each DSP user to an `eval generate --json` report (prompts and every answer kept).
The judge trains on that user's pairs whose prompts were not generated for, as `eval generate` does,
and is added under "embedding_judge"; the result is printed and, with a third argument, written out.
"""
from __future__ import annotations

import gzip
import json
import sys

from edge_drift.evaluation import dsp_pairs, load_dsp
from edge_drift.judging import EmbeddingJudge, judge_report, judge_training_pairs


def main(data: str, reports_path: str, out: str | None = None) -> None:
    queries = load_dsp(data)
    with gzip.open(reports_path, "rt") as f:
        reports = json.load(f)
    encoder = None
    for user, report in reports.items():
        prompts = report["prompts"]
        others = judge_training_pairs(dsp_pairs(queries, user, seed=0), prompts)
        judge = EmbeddingJudge(others, encoder=encoder)
        encoder = judge.encoder  # load the model once
        answers = {k: v for k, v in report["answers"].items() if k != "plain"}
        report["embedding_judge"] = judge_report(judge, prompts, report["answers"]["plain"], answers)
        accuracy = report["embedding_judge"]["judge"]["held_out_accuracy"]
        for r in report["embedding_judge"]["results"]:
            print(f"{user}: judge {accuracy:.2f}  {r['strategy']} {r['win_rate']:.2f} "
                  f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] over {r['n_prompts']} prompts", flush=True)
    if out:
        with gzip.open(out, "wt") as f:
            json.dump(reports, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
