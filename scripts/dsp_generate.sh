#!/usr/bin/env bash
# Win rates vs plain for the 4 DSP users: profile from 50 pairs (the default fit), N_PROMPTS held-out prompts,
# STRATEGIES compared, one JSON per user in OUT (win rates by the TF-IDF and the MiniLM judge, and every
# answer). BETA, when set, is drift's strength for the fitted profiles (default: DEFAULT_BETA, 0.25; tables older than that default used 0.5). Reuses the scored log-probs in out/dsp_eval/cache.json (unpacked from the committed
# docs/data/dsp_scores_32tok.json.gz when missing). ~2 s per 64-token answer on 2 cores.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-out/dsp_generate}
mkdir -p "$OUT" out/dsp_eval
if [ ! -f out/dsp_eval/cache.json ]; then
    gunzip -c docs/data/dsp_scores_32tok.json.gz > out/dsp_eval/cache.json
fi
for user in academy business entertainment literature; do
  .venv/bin/edge-drift eval generate --data ../shared/data/dsp/dsp_dev.json --user "$user" --n-train 50 \
      --n-prompts "${N_PROMPTS:-40}" --strategies "${STRATEGIES:-drift,panda,prompt}" \
      --cache out/dsp_eval/cache.json --max-response-tokens 32 --embedding-judge ${BETA:+--beta "$BETA"} --json > "$OUT/$user.json"
done
