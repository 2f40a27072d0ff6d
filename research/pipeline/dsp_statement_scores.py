"""Per-token scores of each DSP user's one-sentence statement (research/data/dsp_statements.json) as a system
prompt, on all 4 domain answers of the 200 scored queries, into research/data/dsp_statement_token_scores.npz.

Usage: PYTHONPATH=.:research .venv/bin/python research/pipeline/dsp_statement_scores.py DSP_DEV.json   (~15 min)
"""
from __future__ import annotations

import sys

from common import N_QUERIES, STATEMENT_SCORES, score_user_prompts, statement_prompts
from edge_drift.evaluation import DSP_DOMAINS, load_dsp
from edge_drift.pairs import Pair


def all_answers(queries) -> list[Pair]:
    """Two pairs per query that together hold its 4 domain answers (scoring is per answer, not per pair)."""
    a, b, c, d = DSP_DOMAINS
    return [Pair(q.prompt, q.responses[x], q.responses[y]) for q in queries for x, y in ((a, b), (c, d))]


def main() -> None:
    queries = load_dsp(sys.argv[1])[:N_QUERIES]
    pairs = all_answers(queries)
    score_user_prompts({user: (prompt, pairs) for user, prompt in statement_prompts().items()}, STATEMENT_SCORES)


if __name__ == "__main__":
    main()
