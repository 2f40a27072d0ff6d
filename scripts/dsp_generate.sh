#!/usr/bin/env bash
# Win rates of every strategy vs plain for the 4 DSP users (profile from 50 pairs, 20 held-out prompts).
# Reuses the scored log-probs of `eval prefs --out out/dsp_eval` when present.
set -eu
cd "$(dirname "$0")/.."
mkdir -p out/dsp_generate
for user in academy business entertainment literature; do
  .venv/bin/edge-drift eval generate --data ../shared/data/dsp/dsp_dev.json --user "$user" \
      --n-train 50 --n-prompts "${N_PROMPTS:-20}" --cache out/dsp_eval/cache.json --max-response-tokens 64 --json > "out/dsp_generate/$user.json"
done
