# Two commands do all set-up on a fresh machine:
#   make repro   create .venv if missing, install, run the whole pipeline (every stage a Dask task, a worker per core)
#   make test    same set-up, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: repro test bench clean-venv

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

repro: $(BIN)/.installed
	python -m pipeline.repro

test: $(BIN)/.installed
	python -m pytest -q

bench: $(BIN)/.installed
	python -m benchmarks.run

clean-venv:
	rm -rf $(VENV)
