# The two set-up commands of the README. Each creates the virtual environment it needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## demo: the main job on the bundled sample, offline: registry -> as-of snapshot -> checks with evidence
demo: $(VENV)/.installed
	rm -rf $(OUT)/registry.duckdb $(OUT)/snapshot
	$(BIN)/apertus-compliance optout ingest --bundled-sample --registry $(OUT)/registry.duckdb
	$(BIN)/apertus-compliance optout snapshot --registry $(OUT)/registry.duckdb --as-of 2025-01-31 --out $(OUT)/snapshot
	$(BIN)/apertus-compliance optout check --snapshot $(OUT)/snapshot $$(cat data/sample/demo-urls.txt) || [ $$? -eq 3 ]

## test: install what the tests need and run them
test: $(VENV)/.installed
	$(BIN)/python -m pytest

## bench: the benchmarks whose figures are in BENCHMARKS.md
bench: $(VENV)/.installed
	$(BIN)/python bench/optout_bench.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
