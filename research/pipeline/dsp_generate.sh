#!/usr/bin/env bash
# Win rates vs plain for the 4 DSP users: profile from 50 pairs (the default fit), N_PROMPTS held-out prompts,
# STRATEGIES compared, one JSON per user in OUT (win rates by the TF-IDF and the MiniLM judge, and every
# answer). BETA, when set, is drift's strength for the fitted profiles (default: DEFAULT_BETA, 0.125; tables
# from before 2026-12-07 used 0.25, older ones 0.5). CUTOFF is the answer cut-off the profiles are fitted at: 32 reuses
# the committed research/data/dsp_scores_32tok.json.gz (out/dsp_eval/cache.json), which every table before the
# 8-token default used; any other cut-off up to 64 (24, the default, as `profile fit`; 8, the default before
# 2026-12-06) sums the committed per-token
# scores (research/data/dsp_token_scores/) into out/dsp_evalCUTOFF/cache.json. DECAY weighs answer token t by
# DECAY**t (default 1, a plain sum, as the product; 0.9 in "Early tokens weigh more"; 32 needs DECAY=1).
# SOLVER fits the profiles as `profile fit --solver SOLVER` (default select; bt scores every attribute, and
# the committed scores hold them all). SKIP_PROMPTS (default 0) skips that many held-out prompts, which an
# earlier run answered, so the two runs can be pooled (research/pipeline/generation_table.py, compare_generation_runs.py).
# N_TRAIN (default 50) pairs fit each profile; STATEMENTS, a JSON file of user -> sentence (research/data/
# dsp_statements.json), gives each profile that user's statement (`profile say`; with it N_TRAIN may be 0: the
# sentence alone, and SKIP_PROMPTS=50 then answers the prompts a 50-pair run answers). Nothing is scored but
# the statements. ~2 s per 64-token answer on 2 cores.
set -eu
cd "$(dirname "$0")/../.."  # the repository root
OUT=${OUT:-out/dsp_generate}
CUTOFF=${CUTOFF:-24}
DECAY=${DECAY:-1}
case "$CUTOFF" in
  32) [ "$DECAY" = 1 ] || { echo "the committed 32-token cache is a flat sum: give DECAY=1" >&2; exit 2; }
      CACHE=out/dsp_eval/cache.json
      mkdir -p out/dsp_eval
      [ -f "$CACHE" ] || gunzip -c research/data/dsp_scores_32tok.json.gz > "$CACHE" ;;
  [1-9]|[1-5][0-9]|6[0-4])
      CACHE=out/dsp_eval${CUTOFF}_decay$DECAY/cache.json
      [ -f "$CACHE" ] || PYTHONPATH=. .venv/bin/python research/pipeline/dsp_token_scores.py --cache "$CUTOFF" "$CACHE" \
          research/data/dsp_token_scores "$DECAY" ;;
  *) echo "CUTOFF must be a whole number of tokens from 1 to 64 (the per-token scores stop at 64)" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
for user in academy business entertainment literature; do
  said=()
  if [ -n "${STATEMENTS:-}" ]; then
    said=(--statement "$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$STATEMENTS" "$user")")
  fi
  .venv/bin/edge-drift eval generate --data ../shared/data/dsp/dsp_dev.json --user "$user" --n-train "${N_TRAIN:-50}" \
      "${said[@]}" \
      --n-prompts "${N_PROMPTS:-40}" --skip-prompts "${SKIP_PROMPTS:-0}" --strategies "${STRATEGIES:-drift,panda,prompt}" \
      --cache "$CACHE" --max-response-tokens "$CUTOFF" --position-decay "$DECAY" --embedding-judge ${BETA:+--beta "$BETA"} \
      --solver "${SOLVER:-select}" --json > "$OUT/$user.json"
done
