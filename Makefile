# Two commands on a fresh clone: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PEOPLE ?= 5000

.PHONY: demo test test-fast install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rsync-braze demo --people $(PEOPLE)

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not dbt and not slow"

# Not part of `make test`: every benchmark in one run, results in benchmarks/results/<date>.{json,md,png}.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	-$(BIN)/rsync-braze warehouse stop
	rm -rf $(VENV) .rsync-braze target dbt_packages logs integration_tests/target integration_tests/dbt_packages
