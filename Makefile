# release-guard: `make demo` and `make test` do all of their own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY312 := $(shell scripts/find-python312.sh)
VENV := .venv
TOOLS := .venv-tools
CHECKOV := .venv-checkov
PY := $(VENV)/bin/python
export AWS_DEFAULT_REGION ?= us-east-1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help
help:
	@echo "make demo    run the release story in the emulated AWS account"
	@echo "make test    ruff, mypy, pytest, cfn-lint, checkov, ASL validation"
	@echo "make build   sam build (no container), bytecode, and the 250 MB size check"
	@echo "make bench-judge  simulated releases: false-rollback and detection table in docs/judge.md"
	@echo "make bench-gate   the eval gate on 100,000 paired examples: time and memory"
	@echo "make bench-lambda cold import of every handler from the built layers (make build first), one judge look"
	@echo "make bench-drift  drift checks on 200,000 rows x 55 features: release-guard, scipy, Evidently"

$(VENV)/.stamp: requirements/runtime.txt requirements/dev.txt pyproject.toml
	@test -n "$(PY312)" || { echo "python3.12 is required" >&2; exit 1; }
	$(PY312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(TOOLS)/.stamp: requirements/tools.txt
	@test -n "$(PY312)" || { echo "python3.12 is required" >&2; exit 1; }
	$(PY312) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements/tools.txt
	touch $@

# checkov pins a boto3 that aws-sam-cli's excludes: a venv of its own (requirements/checkov.txt).
$(CHECKOV)/.stamp: requirements/checkov.txt
	@test -n "$(PY312)" || { echo "python3.12 is required" >&2; exit 1; }
	$(PY312) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $@

.venv-bench/.stamp: requirements/bench-evidently.txt
	@test -n "$(PY312)" || { echo "python3.12 is required" >&2; exit 1; }
	$(PY312) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --upgrade pip
	.venv-bench/bin/python -m pip install --quiet -r requirements/bench-evidently.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp

.PHONY: lint
lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: typecheck
typecheck: $(VENV)/.stamp
	$(VENV)/bin/mypy layers/release_guard/python/release_guard cli/release_guard_cli functions

# Both templates; a finding is fixed, or suppressed in place in the template with its
# reason (Metadata: checkov: skip:), and docs/security.md lists the suppressions.
# --skip-download: offline, no Prisma Cloud look-ups.
.PHONY: checkov
checkov: $(CHECKOV)/.stamp
	$(CHECKOV)/bin/checkov --framework cloudformation --skip-download --quiet --compact \
	  -f template.yaml -f pipeline/template.yaml

.PHONY: validate
validate: $(VENV)/.stamp
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/cfn-lint pipeline/template.yaml
	$(VENV)/bin/release-guard manifest validate
	$(PY) scripts/validate_asl.py statemachines/release.asl.json --template template.yaml

# Headless Chromium for the release report's browser test
# (tests/unit/test_report_browser.py). RG_NO_BROWSER=1 skips the test, and this.
BROWSERS := chromium chromium-browser google-chrome google-chrome-stable
.PHONY: browser
browser:
	@if [ "$${RG_NO_BROWSER:-}" = 1 ] || [ -n "$${RG_CHROMIUM:-}" ]; then exit 0; fi; \
	for b in $(BROWSERS); do command -v $$b >/dev/null && exit 0; done; \
	if ! command -v apt-get >/dev/null; then \
	  echo "Chromium is required for the report tests: install it, or set RG_NO_BROWSER=1" >&2; \
	  exit 1; \
	fi; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "installing Chromium (apt-get) for the report's browser test"; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	  chromium fonts-dejavu-core >/dev/null

.PHONY: pytest
pytest: $(VENV)/.stamp browser
	$(VENV)/bin/pytest

.PHONY: test
test: lint typecheck validate checkov pytest

.PHONY: demo
demo: $(VENV)/.stamp
	$(VENV)/bin/release-guard demo

.PHONY: bench-judge
bench-judge: $(VENV)/.stamp
	$(PY) bench/judge_sim.py --aa 2000 --bad 500

.PHONY: bench-gate
bench-gate: $(VENV)/.stamp
	$(PY) bench/gate_bench.py
	$(PY) bench/gate_calibration.py

.PHONY: bench-lambda
bench-lambda: $(VENV)/.stamp
	$(PY) bench/lambda_costs.py

.PHONY: bench-drift
bench-drift: $(VENV)/.stamp .venv-bench/.stamp
	$(PY) bench/drift_bench.py
	$(PY) bench/capture_parse.py
	$(PY) bench/drift_calibration.py

# Lambda's /opt and /var/task are read-only: without .pyc every cold start compiles, so
# the built layers and functions get theirs (scripts/compile_bytecode.py, which fails
# listing any .py left without one).
.PHONY: build
build: $(TOOLS)/.stamp
	PATH="$(dir $(PY312)):$$PATH" $(TOOLS)/bin/sam build --template-file template.yaml
	$(PY312) scripts/compile_bytecode.py .aws-sam/build
	$(PY312) scripts/check_package_size.py .aws-sam/build

.PHONY: sam-validate
sam-validate: $(TOOLS)/.stamp
	$(TOOLS)/bin/sam validate --lint --template-file template.yaml

.PHONY: clean
clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) .venv-bench .aws-sam out .mypy_cache .ruff_cache .pytest_cache
