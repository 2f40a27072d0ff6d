"""Write one DSP domain user's pairs as a JSONL pairs file (for `edge-drift profile fit` timings).

Usage: python research/pipeline/dsp_pairs.py DSP_JSON USER FIRST N OUT.jsonl   (USER: academy|business|entertainment|literature)
"""
import json
import sys

from edge_drift.evaluation import dsp_pairs, load_dsp


def main() -> None:
    data, user, first, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    queries = load_dsp(data)[first:first + n]
    with open(out, "w") as handle:
        for pair in dsp_pairs(queries, user, seed=0):
            handle.write(json.dumps(pair.to_dict()) + "\n")


if __name__ == "__main__":
    main()
