# Two commands on a fresh machine: `make render STACK=dev` and `make test`.
# Each creates .venv and installs what it needs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
STACK ?= dev
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt policies/requirements.txt | sha256sum | cut -c1-12)

.PHONY: venv render render-all test lint unit

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

render: $(STAMP)
	$(PY) -m tools.render --stack $(STACK)

render-all: $(STAMP)
	$(PY) -m tools.render --all

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest

test: lint unit

# Benchmarks and cost model (several minutes; fresh interpreters): prints and writes build/bench/report.md.
.PHONY: bench
bench: $(STAMP)
	$(PY) -m tools.bench $(BENCH_ARGS)
