#!/usr/bin/env bash
# Scores the first N DSP dev queries (5 answers x 41 attributes + base, 32-token answers) with the embedded sLM,
# checkpointing out/dsp_eval/cache.json, then commits-ready compresses it to research/data/dsp_scores_32tok.json.gz.
# ~45 s per query on 2 cores; a partial run keeps what it scored (rerun to extend). Needs ../shared/data.
# To reuse the committed scores: mkdir -p out/dsp_eval && gunzip -c research/data/dsp_scores_32tok.json.gz > out/dsp_eval/cache.json
set -eu
cd "$(dirname "$0")/../.."  # the repository root
N_TRAIN=${N_TRAIN:-10,25,50,100}; N_TEST=${N_TEST:-100}
mkdir -p out/dsp_eval docs/data
if [ ! -f out/dsp_eval/cache.json ] && [ -f research/data/dsp_scores_32tok.json.gz ]; then
    gunzip -c research/data/dsp_scores_32tok.json.gz > out/dsp_eval/cache.json
fi
.venv/bin/edge-drift eval prefs --data ../shared/data/dsp/dsp_dev.json --n-train "$N_TRAIN" --n-test "$N_TEST" \
    --seeds 10 --max-response-tokens 32 --position-decay 1 --out out/dsp_eval
gzip -9 -c out/dsp_eval/cache.json > research/data/dsp_scores_32tok.json.gz
