#!/usr/bin/env bash
# Runs the README's serving examples against a real `edge-drift serve` and saves each output under out/readme/.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out/readme out/serve
rm -rf out/serve/profiles
run() { local name=$1; shift; echo "\$ $*" > "out/readme/$name.txt"; "$@" >> "out/readme/$name.txt" 2>&1; echo "[exit $?]" >> "out/readme/$name.txt"; }

edge-drift serve --profiles-dir out/serve/profiles --attributes concise,storyteller,vivid,empathetic,humor,analytic \
    > out/readme/serve_start.txt 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER; wait $SERVER' EXIT
until curl -sf http://127.0.0.1:8000/health > /dev/null; do sleep 0.5; done

pairs() { python -c "import json,sys; print(json.dumps({'pairs': [json.loads(l) for l in open(sys.argv[1])], 'top_k': 3}))" "$1"; }
pairs profiles/examples/terse_tim.pairs.jsonl > out/serve/tim.json
pairs profiles/examples/warm_wendy.pairs.jsonl > out/serve/wendy.json
run serve_import curl -s http://127.0.0.1:8000/v1/profiles/tim/import -H 'Content-Type: application/json' -d @out/serve/tim.json
curl -s http://127.0.0.1:8000/v1/profiles/wendy/import -H 'Content-Type: application/json' -d @out/serve/wendy.json > /dev/null
run serve_models curl -s http://127.0.0.1:8000/v1/models
run serve_chat curl -si http://127.0.0.1:8000/v1/chat/completions -H 'X-Edge-Drift-User: wendy' \
    -d '{"model": "edge-drift", "messages": [{"role": "user", "content": "How do I start journaling?"}], "max_tokens": 40, "temperature": 0}'
run serve_stream curl -sN http://127.0.0.1:8000/v1/chat/completions -H 'X-Edge-Drift-User: tim' \
    -d '{"model": "edge-drift", "messages": [{"role": "user", "content": "Hi!"}], "max_tokens": 4, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}'
run serve_openwebui curl -si http://127.0.0.1:8000/v1/chat/completions -H 'X-OpenWebUI-User-Id: tim' \
    -H 'X-OpenWebUI-User-Name: Tim' -d '{"model": "edge-drift", "messages": [{"role": "user", "content": "How do I start journaling?"}], "max_tokens": 40, "temperature": 0}'
run serve_plain_stranger curl -si http://127.0.0.1:8000/v1/chat/completions \
    -d '{"model": "edge-drift", "user": "stranger", "messages": [{"role": "user", "content": "Hi!"}], "max_tokens": 8}'
run serve_openai python scripts/openai_client_example.py
run serve_profile curl -s http://127.0.0.1:8000/v1/profiles/tim
run serve_err_n curl -s http://127.0.0.1:8000/v1/chat/completions -d '{"messages": [{"role": "user", "content": "Hi"}], "n": 2}'

if [ -x /tmp/llm-venv/bin/llm ]; then  # the `llm` CLI in a venv of its own: pip install llm
    export LLM_USER_PATH=$PWD/out/serve/llm
    mkdir -p "$LLM_USER_PATH"
    cat > "$LLM_USER_PATH/extra-openai-models.yaml" <<'YAML'
- model_id: edge-drift-tim
  model_name: edge-drift
  api_base: "http://127.0.0.1:8000/v1"
  headers:
    X-Edge-Drift-User: tim
- model_id: edge-drift-wendy
  model_name: edge-drift
  api_base: "http://127.0.0.1:8000/v1"
  headers:
    X-Edge-Drift-User: wendy
YAML
    run serve_llm bash -c "/tmp/llm-venv/bin/llm -m edge-drift-tim -o max_tokens 40 -o temperature 0 'How do I start journaling?'; \
        /tmp/llm-venv/bin/llm -m edge-drift-wendy -o max_tokens 40 -o temperature 0 'How do I start journaling?'"
fi
