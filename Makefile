# driftrec: `make run` trains, evaluates and serves MovieLens-1M, `make test` runs ruff and the tests,
# `make results` rebuilds benchmarks/results/README.md from the results files.
# Both create (once) and reuse a local virtual environment in .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint bench results clean-venv

install: $(STAMP)

# torch==2.13.0 first: that exact version is the CPU build; anything else pulls CUDA.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[service,dev,ann,ray]'
	touch $(STAMP)

# Fetch ML-1M, train the default model within BUDGET, evaluate it beside the baselines,
# import the events into work/ml-1m/driftrec.db and serve the API and dashboard on
# 127.0.0.1:8000. A second run reuses every step's output.
BUDGET ?= 5m
PORT ?= 8000
run: install
	$(BIN)/driftrec quickstart --dataset ml-1m --budget $(BUDGET) --port $(PORT)

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/driftrec data fetch ml-100k
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/bench_baselines.py

results: install
	$(BIN)/python benchmarks/report.py

clean-venv:
	rm -rf $(VENV)
