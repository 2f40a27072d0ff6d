#!/usr/bin/env bash
# Win rates vs plain for the 4 DSP users: profile from 50 pairs (the default fit), N_PROMPTS held-out prompts,
# STRATEGIES compared. Reuses the scored log-probs in out/dsp_eval/cache.json (unpacked from the committed
# docs/data/dsp_scores_32tok.json.gz when missing). ~4 s of generation per prompt and strategy on 2 cores.
set -eu
cd "$(dirname "$0")/.."
mkdir -p out/dsp_generate out/dsp_eval
if [ ! -f out/dsp_eval/cache.json ]; then
    gunzip -c docs/data/dsp_scores_32tok.json.gz > out/dsp_eval/cache.json
fi
for user in academy business entertainment literature; do
  .venv/bin/edge-drift eval generate --data ../shared/data/dsp/dsp_dev.json --user "$user" --n-train 50 \
      --n-prompts "${N_PROMPTS:-40}" --strategies "${STRATEGIES:-drift,panda,prompt}" \
      --cache out/dsp_eval/cache.json --json > "out/dsp_generate/$user.json"
done
