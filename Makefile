# Two commands set up a fresh machine: `make run` and `make test`.
# The distribution's python3 where it is 3.11 or newer (Debian's is built
# with profile-guided optimisation, as the Docker image's python:3.11 is), else
# the first python3 on PATH. A pyenv build without --enable-optimizations ran
# the pipeline's Python about 10-25% slower here (bench/run.py, back to back).
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## The whole system in the foreground: web on http://127.0.0.1:$${PORT:-8000}, worker, beat.
run: $(STAMP)
	$(BIN)/python -m webhooks_project.run

## The whole test suite (DATABASE_URL picks the database; SQLite by default).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Throughput and latency against PostgreSQL and Redis (see README).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
