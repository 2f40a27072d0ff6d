"""CLI shell behaviour and the benchmarks' JSON contract (numbers themselves live in docs, not tests)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edge_drift.bench import bench_decode, bench_engine
from edge_drift.cli import main


def test_help_does_not_import_llama_cpp():
    code = "import sys; from edge_drift.cli import main; sys.argv=['edge-drift','--help']\n" \
           "try:\n    main()\nexcept SystemExit:\n    pass\nprint('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_models_list_json_is_offline():
    result = CliRunner().invoke(main, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["default"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and data["cached"] == []
    assert all({"llm", "slm", "llm_size", "slm_quant"} <= set(p) for p in data["pairs"])


def test_bench_engine_reports_every_key(engine):
    result = bench_engine(engine, n_sequences=2, n_steps=2, repeats=1)
    for key in ("single_steps_per_s", "batched_steps_per_s", "looped_steps_per_s", "prompt_eval_tokens_per_s",
                "scoring_tokens_per_s", "batched_vs_looped", "scoring_vs_prompt_eval", "n_sequences", "model"):
        assert key in result
    assert result["n_sequences"] == 2 and result["model"] == engine.path.name
    assert result["scoring_tokens_saved_by_prefix_sharing"] > 0


def test_bench_decode_reports_every_key(engine):
    result = bench_decode(engine, ks=(1,), n_tokens=3, repeats=1)
    assert result["plain_tokens_per_s"] > 0 and result["model"] == engine.path.name
    (row,) = result["drift"]
    assert row["k"] == 1 and row["sequences"] == 1  # the base sequence is the LLM's own
    assert set(row) >= {"tokens_per_s", "bound_tokens_per_s", "vs_bound", "vs_plain"}


def test_progress_without_a_terminal_prints_position_lines(capsys):
    from edge_drift.cli.common import LineProgress

    progress = LineProgress("scoring", total=3, every=3600)
    progress.update(1)
    progress.update(2)  # quiet until the interval passes, except on the last step
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scoring 3/3") and "eta 0s" in lines[0]


@pytest.mark.real  # loads the embedded model through the CLI or a server
def test_bench_serve_reports_every_key():
    from edge_drift.bench import bench_serve

    result = bench_serve(n_requests=2, max_tokens=2, concurrency=(1, 2), rounds=1)
    assert result["direct"]["tokens"] > 0 and [r["clients"] for r in result["served"]] == [1, 2]
    for run in result["served"]:
        assert run["tokens"] == result["direct"]["tokens"]  # same greedy answers through HTTP
        assert set(run) >= {"tokens_per_s", "ttft_p50_s", "ttft_p95_s", "vs_direct"} and run["vs_direct"] > 0
    assert result["min_vs_direct"] == min(r["vs_direct"] for r in result["served"])


@pytest.mark.real  # loads the embedded model
def test_bench_round_times_both_kinds_of_compare_round():
    from edge_drift.bench import bench_round

    result = bench_round(repeats=1, n_attributes=3, max_tokens=6)
    assert result["attribute_asked"] in ("concise", "direct", "analytic") and result["question_s"] >= 0
    assert result["informative_tokens"] > 0 and result["steered_vs_plain_tokens"] > 0
    assert result["informative_vs_steered_vs_plain"] == pytest.approx(
        result["informative_round_s"] / result["steered_vs_plain_round_s"], rel=0.05)


def test_bench_fit_counts_what_it_evaluates(engine):
    from pathlib import Path

    from edge_drift.bench import bench_fit
    from edge_drift.pairs import read_pairs
    from edge_drift.rewards import DEFAULT_MAX_RESPONSE_TOKENS

    pairs = read_pairs(Path(__file__).parents[1] / "profiles/examples/warm_wendy.pairs.jsonl").pairs
    result = bench_fit(engine, pairs[:2], pairs[2])
    assert result["n_pairs"] == 2 and result["solver"] == "select" and result["n_attributes"] == 48
    # two pairs are fully scored (screening starts later), each sharing prefixes a naive scorer repeats
    assert result["screening"]["fully_scored_pairs"] == 2 and result["attributes_screened_out"] == 0
    assert 0 < result["fit_tokens_evaluated"] < result["naive_tokens"]
    assert result["vote_tokens_evaluated"] > 0 and result["vote_cli_seconds"] is None
    for key in ("prompt_eval_tokens_per_s", "all_logits_eval_tokens_per_s", "fit_evaluated_tokens_per_s"):
        assert result[key] > 0
    assert result["max_response_tokens"] == DEFAULT_MAX_RESPONSE_TOKENS
    # one pair of the same fit at another cut-off (one keeps the test short; 2 tokens vs 24 dwarfs a pair's length)
    shorter = bench_fit(engine, pairs[:1], pairs[2], max_response_tokens=2)
    assert shorter["max_response_tokens"] == 2
    assert shorter["fit_tokens_scored"] < result["fit_tokens_scored"] / 2
    assert shorter["naive_tokens_per_pair"] < result["naive_tokens_per_pair"]
    # answer tokens need full-vocabulary rows, prompt tokens do not: a shorter cut-off has a smaller share
    assert 0 < shorter["fit_logit_rows_share"] < result["fit_logit_rows_share"] < 1
