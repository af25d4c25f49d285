# Two commands on a fresh machine: `make render STACK=dev` and `make test`.
# Each creates .venv and installs what it needs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
STACK ?= dev
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt policies/requirements.txt | sha256sum | cut -c1-12)
# The IAM simulator (npm, tools/iam_sim): the unit tests judge every stack's policies with it.
IAM_SIM_STAMP := tools/iam_sim/node_modules/.installed-$(shell sha256sum tools/iam_sim/package-lock.json | cut -c1-12)

.PHONY: venv render render-all test lint unit

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# DEPLOYED=1.21.14: render the change from the version a stack runs now (an upgrade, or the refusal).
render: $(STAMP)
	$(PY) -m tools.render --stack $(STACK) --policies $(if $(DEPLOYED),--deployed-version $(DEPLOYED))

render-all: $(STAMP)
	$(PY) -m tools.render --all --policies

lint: $(STAMP)
	$(PY) -m ruff format --check --diff .
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m yamllint --strict .

unit: $(STAMP) $(IAM_SIM_STAMP)
	$(PY) -m pytest

test: lint unit

# Benchmarks and cost model (several minutes; fresh interpreters): prints and writes build/bench/report.md.
.PHONY: bench
bench: $(STAMP)
	$(PY) -m tools.bench $(BENCH_ARGS)

# End to end against the real binaries (README, "End to end against the real binaries"): builds
# kube-apiserver, kubeadm, etcd and the AWS CCM from the Go module proxy once (cached under
# ~/.cache/k8s-dualstack-aws/bin), runs them on loopback with moto as EC2 and ELB behind a proxy that
# enforces the control-plane role's IAM policies (the IAM simulator, npm ci); build/e2e/report.json.
E2E_STAMP := $(VENV)/.e2e-installed-$(shell cat e2e/requirements.txt requirements-validate.txt | sha256sum | cut -c1-12)
.PHONY: e2e
$(E2E_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -r e2e/requirements.txt
	touch $(E2E_STAMP)

e2e: $(E2E_STAMP) $(IAM_SIM_STAMP)
	$(PY) -m mypy e2e
	$(PY) -m e2e.build
	$(PY) -m e2e.run
	$(PY) -m e2e.upgrade

# The real Pulumi engine (README, "The real Pulumi engine"): builds the Pulumi CLI, the Kubernetes provider,
# kube-controller-manager, kube-scheduler and kwok from the Go module proxy (cached like the e2e binaries).
.PHONY: engine
engine: $(E2E_STAMP) $(IAM_SIM_STAMP)
	$(PY) -m mypy engine
	$(PY) -m e2e.build --minor 1.35
	$(PY) -m engine.build
	$(PY) -m engine.run

# End to end on AWS (README, "End to end on AWS"): a throwaway stack of the newest release, `pulumi up`
# with the Automation API, the checks, then always `pulumi destroy`; build/integration/summary.json.
# UPGRADE=1: the in-place upgrade run instead (a stack at the minor below the newest, upgraded one minor;
# about an hour, about $0.15; build/integration/upgrade-summary.json).
# Skipped, saying what is missing, without the pulumi CLI, kubectl or AWS credentials. Costs money.
.PHONY: integration
integration: $(STAMP)
	$(if $(UPGRADE),INTEGRATION_UPGRADE=$(UPGRADE)) $(PY) -m pytest -m integration $(if $(filter 1,$(UPGRADE)),tests/integration/test_aws_upgrade.py,tests/integration) -v -s

# The IAM simulator (README, "Authorization evidence (IAM simulation)"): @cloud-copilot/iam-simulate,
# pinned exactly in tools/iam_sim/package.json and package-lock.json, installed with `npm ci`
# (node_modules is git-ignored; a new lock file gives a new stamp, npm ci starts from scratch).
.PHONY: iam-sim-deps iam-sim
$(IAM_SIM_STAMP): tools/iam_sim/package.json tools/iam_sim/package-lock.json
	npm ci --prefix tools/iam_sim --no-audit --no-fund
	touch $(IAM_SIM_STAMP)

iam-sim-deps: $(IAM_SIM_STAMP)

# The simulator's own tests, the call tables, parliament's skips and every stack's IAM matrix.
iam-sim: $(STAMP) $(IAM_SIM_STAMP)
	$(PY) -m pytest tests/test_iam_sim*.py
	$(PY) -m tools.iam_check

# Third-party validators over every rendered stack (README, "Validation by third-party tools"):
# checkov (a venv of its own: its pins conflict with pulumi's), shellcheck and cloud-init (apt),
# yamllint, actionlint (go install), openssl, moto as the AWS API, parliament, the IAM simulator
# (npm ci, above); writes build/validate/summary.md.
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

validate: $(VALIDATE_STAMP) $(IAM_SIM_STAMP)
	bash tools/validate/install_tools.sh
	$(PY) -m tools.validate
