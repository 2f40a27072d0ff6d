#!/usr/bin/env bash
# Fuzzes `edge-drift serve`'s HTTP API with schemathesis on loopback, from the server's own OpenAPI document:
# every answer must be a non-5xx within the time limit (no server error, no hang). `make fuzz` installs
# schemathesis into a virtualenv of its own and runs this; bounded by --max-examples and --max-time, so it stops
# by itself. Usage: scripts/fuzz_api.sh [EXAMPLES_PER_OPERATION]
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${ST:-$HOME/.cache/edge-drift/fuzz/bin/st}
EXAMPLES=${1:-25}
WORK=out/fuzz  # the server's log and schemathesis' reports stay here
rm -rf "$WORK" && mkdir -p "$WORK"
PORT=$(.venv/bin/python -c "from edge_drift.serving.process import free_port; print(free_port())")
# two attributes: a fuzzed vote starts a profile in seconds instead of scoring all 48; every answer ends within
# 60 s (--max-seconds), well inside the request timeout, however many tokens a fuzzed request asks for
.venv/bin/edge-drift serve --port "$PORT" --profiles-dir "$WORK/profiles" --attributes concise,storyteller \
    --max-seconds 60 > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || echo "edge-drift serve ended with status $?"; tail -5 "$WORK/serve.log"' EXIT
until curl -sf "http://127.0.0.1:$PORT/health" > /dev/null; do sleep 0.5; done
"$ST" run "http://127.0.0.1:$PORT/openapi.json" --checks not_a_server_error --workers 1 \
    --max-examples "$EXAMPLES" --max-time 480 --request-timeout 180 --seed 1 --no-shrink \
    --report junit,ndjson --report-dir "$WORK/report"
