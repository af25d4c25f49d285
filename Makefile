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
	$(PY) -m tools.render --stack $(STACK) --policies

render-all: $(STAMP)
	$(PY) -m tools.render --all --policies

lint: $(STAMP)
	$(PY) -m ruff format --check --diff .
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m yamllint --strict .

unit: $(STAMP)
	$(PY) -m pytest

test: lint unit

# Benchmarks and cost model (several minutes; fresh interpreters): prints and writes build/bench/report.md.
.PHONY: bench
bench: $(STAMP)
	$(PY) -m tools.bench $(BENCH_ARGS)

# End to end against the real binaries (README, "End to end against the real binaries"): builds
# kube-apiserver, kubeadm, etcd and the AWS CCM from the Go module proxy once (cached under
# ~/.cache/k8s-dualstack-aws/bin), runs them on loopback with moto as EC2; build/e2e/report.json.
E2E_STAMP := $(VENV)/.e2e-installed-$(shell cat e2e/requirements.txt requirements-validate.txt | sha256sum | cut -c1-12)
.PHONY: e2e
$(E2E_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -r e2e/requirements.txt
	touch $(E2E_STAMP)

e2e: $(E2E_STAMP)
	$(PY) -m mypy e2e
	$(PY) -m e2e.build
	$(PY) -m e2e.run

# Third-party validators over every rendered stack (README, "Validation by third-party tools"):
# checkov (a venv of its own: its pins conflict with pulumi's), shellcheck and cloud-init (apt),
# yamllint, actionlint (go install), openssl, moto as the AWS API; writes build/validate/summary.md.
VALIDATE_STAMP := $(VENV)/.validate-installed-$(shell cat requirements-validate.txt tools/validate/requirements-checkov.txt | sha256sum | cut -c1-12)
CHECKOV_VENV := $(VENV)/tools/checkov
.PHONY: validate
$(VALIDATE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -r requirements-validate.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r tools/validate/requirements-checkov.txt
	rm -f $(VENV)/.validate-installed-*
	touch $(VALIDATE_STAMP)

validate: $(VALIDATE_STAMP)
	bash tools/validate/install_tools.sh
	$(PY) -m tools.validate
