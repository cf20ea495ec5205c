# mixgate: `make demo` builds the demo mixture, `make test` runs the suite.
# Both create .venv from requirements.lock when it is missing (uv, bootstrapped with pip).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Offline Prefect: a project-local home, no analytics; INFO to the API, warnings on the console.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= INFO
export PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL ?= WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export DO_NOT_TRACK := 1

.PHONY: demo test test-fast lint venv bench clean data_samples

# Bytecode is compiled once here (uv --compile-bytecode, compileall for the project): this
# environment sets PYTHONDONTWRITEBYTECODE, so without it every run recompiles every import
# (measured: the demo build takes ~2x longer; docs/performance.md). `python -m flows.server`
# runs Prefect's database migrations once, into .venv/share/mixgate/prefect-<version>.db, which a
# build copies into a fresh PREFECT_HOME instead of migrating again (~6 CPU-s; flows/server.py).
$(STAMP): requirements.lock pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==0.13.8
	@$(VENV)/bin/uv pip install -q -p $(PY) --compile-bytecode -r requirements.lock
	@$(VENV)/bin/uv pip install -q -p $(PY) --no-deps -e .
	@$(PY) -m compileall -q pipeline flows
	@$(PY) -m flows.server >/dev/null
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mixgate build mixtures/demo.yaml --out out

# The suite and the docstring examples of pipeline/ and flows/ (`--doctest-modules`), on TEST_WORKERS
# processes (pytest-xdist; each starts its own session Prefect server and demo build).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --doctest-modules tests pipeline flows

# ruff (lint + format check) over the code, mypy over the library (pyproject.toml: [tool.*]).
lint: $(STAMP)
	$(VENV)/bin/ruff check pipeline flows tests benchmarks
	$(VENV)/bin/ruff format --check pipeline flows tests benchmarks
	$(VENV)/bin/mypy

# The edit-test loop: no Prefect server, no Dask, nothing marked slow (docs/performance.md).
test-fast: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not flow and not slow" tests

bench: $(STAMP)
	@echo "benchmarks: see docs/performance.md for the commands and figures"

data_samples: $(STAMP)
	$(PY) data_samples/generate.py

clean:
	rm -rf out .prefect .pytest_cache
