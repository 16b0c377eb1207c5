# The two set-up commands of the README. Each creates the virtual environment it needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,serve,scale]'
	touch $@

# The demo needs the base install only: no torch, transformers, ray or test tools.
$(VENV)/.installed-base: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

## demo: the main job on the bundled sample, offline: rebuild the sample mixture, then verify it from its lock
demo: $(VENV)/.installed-base
	rm -rf $(OUT)/run
	$(BIN)/apertus-compliance rebuild --out $(OUT)/run
	$(BIN)/apertus-compliance verify $(OUT)/run

## test: install what the tests need, check formatting and lint (ruff format, pyflakes, bugbear, import order), run them
test: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

## test-fast: the same without the tests marked slow (real servers and engines, Slurm, Ray, whole CLI runs)
.PHONY: test-fast
test-fast: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow"

## bench: the benchmarks whose figures are in BENCHMARKS.md
bench: $(VENV)/.installed
	$(BIN)/python bench/optout_bench.py
	$(BIN)/python bench/rebuild_bench.py
	$(BIN)/python bench/filter_bench.py
	$(BIN)/python bench/stream_bench.py
	$(BIN)/python bench/serve_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/robots_bench.py
	$(BIN)/python bench/token_bench.py
	$(BIN)/python bench/web_extract_bench.py
	$(BIN)/python bench/eu_summary_bench.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
