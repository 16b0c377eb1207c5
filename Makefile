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
	$(BIN)/python -m pip install --quiet -e '.[test,serve,scale]'
	touch $@

## demo: the main job on the bundled sample, offline: rebuild the sample mixture, then verify it from its lock
demo: $(VENV)/.installed
	rm -rf $(OUT)/run
	$(BIN)/apertus-compliance rebuild --out $(OUT)/run
	$(BIN)/apertus-compliance verify $(OUT)/run

## test: install what the tests need, lint (pyflakes, bugbear) and run them
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

## bench: the benchmarks whose figures are in BENCHMARKS.md
bench: $(VENV)/.installed
	$(BIN)/python bench/optout_bench.py
	$(BIN)/python bench/rebuild_bench.py
	$(BIN)/python bench/filter_bench.py
	$(BIN)/python bench/serve_bench.py
	$(BIN)/python bench/scale_bench.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
