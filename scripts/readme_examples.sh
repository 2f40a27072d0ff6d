#!/usr/bin/env bash
# Runs every README and docs/ example in order and saves each output under out/readme/; then scripts/serve_examples.sh,
# and `python scripts/readme_refresh.py` copies the outputs into README.md and docs/*.md (and lists the blocks to do
# by hand); `python scripts/cli_reference.py` rewrites docs/cli.md's --help blocks.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out/readme
run() { local name=$1; shift; echo "\$ $*" > "out/readme/$name.txt"; "$@" >> "out/readme/$name.txt" 2>&1; echo "[exit $?]" >> "out/readme/$name.txt"; }
edge-drift profile rm warm_wendy > /dev/null 2>&1  # start from scratch (data folder: `edge-drift data`)
run fit edge-drift profile fit warm_wendy --pairs profiles/examples/warm_wendy.pairs.jsonl \
    --attributes concise,storyteller,empathetic,humor,analytic,vivid,formal --top-k 3
run show edge-drift profile show warm_wendy
run add edge-drift profile add warm_wendy --pairs profiles/examples/warm_wendy.more.jsonl
run list edge-drift profile list
run data edge-drift data
run export bash -c "edge-drift profile export warm_wendy --format jsonl | head -2"
Q="How do I start journaling?"
run gen_plain edge-drift generate --user warm_wendy --no-steer --max-tokens 60 --seed 1 "$Q"
run gen_drift edge-drift generate --user warm_wendy --max-tokens 60 --seed 1 "$Q"
run gen_beta2 edge-drift generate --user warm_wendy --beta 2 --max-tokens 60 --seed 1 "$Q"
run gen_beta05 edge-drift generate --user warm_wendy --beta 0.5 --max-tokens 60 --seed 1 "$Q"
run gen_json edge-drift generate --user warm_wendy --max-tokens 24 --seed 1 --json "$Q"
run gen_pad edge-drift generate --strategy pad --preference "The user loves warm, story-like answers." --max-tokens 60 --seed 1 "$Q"
run gen_panda edge-drift generate --user warm_wendy --strategy panda --max-tokens 60 --seed 1 --json "$Q"
run gen_args edge-drift generate --user warm_wendy --strategy args --max-tokens 60 --seed 1 "$Q"
run gen_args_big edge-drift generate --user warm_wendy --strategy args --guidance 8 --max-tokens 60 --seed 1 "$Q"
run gen_panda_big edge-drift generate --user warm_wendy --strategy panda --max-kl 2 --max-tokens 60 --seed 1 --json "$Q"
run gen_bon edge-drift generate --user warm_wendy --strategy best-of-n --samples 3 --max-tokens 40 --seed 1 --json "$Q"
run gen_prompt edge-drift generate --user warm_wendy --strategy prompt --max-tokens 60 --seed 1 "$Q"
edge-drift profile rm sam > /dev/null 2>&1
run say edge-drift profile say sam "Short, plain answers without jargon."
run gen_say edge-drift generate --user sam --max-tokens 40 --seed 1 "$Q"
printf 'How do I relax after work?\n/ab\na\n/beta 1\n/quit\n' > out/readme/chat_input.txt
run chat bash -c "edge-drift chat --user warm_wendy --max-tokens 40 --seed 2 < out/readme/chat_input.txt"
printf '{"prompt": "x"}\nnot json\n' > out/readme/bad.jsonl
run err_pairs edge-drift profile fit someone --pairs out/readme/bad.jsonl
run err_model edge-drift generate --model nope.gguf "Hi"
run err_user edge-drift generate --user nobody "Hi"
run models edge-drift models list
run eval_prefs edge-drift eval prefs --data profiles/examples/terse_tim.pairs.jsonl --attributes concise,storyteller,humor \
    --n-train 4,8 --n-test 4 --seeds 3 --out out/evaltest
# needs ../shared/data; the committed 32-token DSP scores stand in for `eval prefs --out out/dsp_eval` (docs/RESULTS.md)
[ -f out/dsp_eval/cache.json ] || { mkdir -p out/dsp_eval && gunzip -c research/data/dsp_scores_32tok.json.gz > out/dsp_eval/cache.json; }
run eval_generate edge-drift eval generate --data ../shared/data/dsp/dsp_dev.json --user academy --n-train 50 \
    --n-prompts 10 --strategies drift,panda,prompt --cache out/dsp_eval/cache.json --max-response-tokens 32 --position-decay 1 --embedding-judge
run eval_judge edge-drift eval generate --data ../shared/data/dsp/dsp_dev.json --user literature --n-train 50 \
    --n-prompts 4 --strategies drift,panda --cache out/dsp_eval/cache.json --max-response-tokens 32 --position-decay 1 --judge-model default
