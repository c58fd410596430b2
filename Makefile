# The README's commands. Each target installs what it needs by itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
# The Lambda runtime's interpreter (pyenv holds it beside the default 3.11).
PY39     ?= env PYENV_VERSION=3.9.18 python3.9
VENV     := .venv
VENV39   := .venv39
PIP_FLAGS := --disable-pip-version-check -q -c requirements.txt

# The runtime switch (CDK context `python`): the layer is built by, and for, this Python.
LAMBDA_PYTHON ?= 3.9
PY312    ?= env PYENV_VERSION=3.12.1 python3.12
PY313    ?= env PYENV_VERSION=3.13.0 python3.13
# tests/infra/test_layer.py runs each built layer under its own interpreter.
export LAYER_PYTHON_39  = $(PY39)
export LAYER_PYTHON_312 = $(PY312)
export LAYER_PYTHON_313 = $(PY313)
LAYER_PY_3.9  = $(PY39)
LAYER_PY_3.12 = $(PY312)
LAYER_PY_3.13 = $(PY313)
LAYER_MANIFEST := layers/build/python$(LAMBDA_PYTHON)/layers.json
# The CLI pinned in package.json; no telemetry or notices, so synth needs no network. Node 20
# is past end of life (docs/deploy.md recommends 22 or 24); CI still has it.
CDK      := CDK_DISABLE_CLI_TELEMETRY=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 npx --no-install cdk
# synth needs an endpoint and alarm recipients; deploys name theirs (docs/deploy.md).
SYNTH_CONTEXT ?= -c endpoint_name=chartguard-synth-check -c alarms_without_subscriber=true

.PHONY: help venv venv39 test test-unit test39 lint format bench layer synth ci-infra demo local evaluate clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[function,test,dev,training,infra,anomalies]'
	touch $@

$(VENV39)/.installed: requirements.txt pyproject.toml
	$(PY39) -m venv $(VENV39)
	$(VENV39)/bin/pip install $(PIP_FLAGS) -e '.[function,test]'
	touch $@

venv: $(VENV)/.installed  ## the development environment (Python 3.11: everything)
venv39: $(VENV39)/.installed  ## the Lambda runtime's environment (Python 3.9: function + tests)

.PHONY: chromium
chromium:  ## Debian's chromium for the HTML report's headless test (installed only when missing)
	@command -v chromium >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test: venv venv39 chromium  ## run the whole suite under 3.11, then the function's tests under 3.9 (on the shipped model/)
	$(VENV)/bin/pytest
	$(VENV39)/bin/pytest tests/unit tests/integration

test-unit: venv  ## unit tests only (no network, a few seconds)
	$(VENV)/bin/pytest tests/unit

lint: venv  ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambdas/scoring training infra local chartguard anomalies

format: venv  ## apply ruff's fixes and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv venv39  ## benchmarks: print figures (see README "Performance")
	$(VENV)/bin/python -m bench.render
	$(VENV)/bin/python -m bench.handler
	$(VENV39)/bin/python -m bench.features
	$(VENV39)/bin/python -m bench.coldstart
	$(VENV)/bin/python -m bench.training
	$(VENV)/bin/python -m bench.timeseries
	$(VENV)/bin/python -m bench.anomalies

layers/build/python%/layers.json: requirements.txt layers/build.py
	$(LAYER_PY_$*) layers/build.py

layer: $(LAYER_MANIFEST)  ## build the function's two Lambda layers for LAMBDA_PYTHON (3.9; or 3.12) into layers/build/

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

synth: venv $(LAYER_MANIFEST) node_modules/.package-lock.json  ## synthesise the CDK app with the real layers into cdk.out/ (no AWS account)
	$(CDK) synth --no-notices --quiet -c python=$(LAMBDA_PYTHON) $(SYNTH_CONTEXT)

ci-infra: venv venv39  ## CI: build (twice: reproducible?) and synthesise the 3.9 and 3.12 layers; cfn-lint; render pixels
	$(MAKE) synth LAMBDA_PYTHON=3.9
	$(VENV)/bin/cfn-lint --non-zero-exit-code error cdk.out/Chartguard.template.json
	$(PY39) layers/build.py --verify
	$(MAKE) synth LAMBDA_PYTHON=3.12
	$(VENV)/bin/cfn-lint --non-zero-exit-code error cdk.out/Chartguard.template.json
	REQUIRE_BUILT_LAYERS=3.9,3.12 $(VENV)/bin/pytest tests/infra/test_layer.py

# --- training (training/, docs/training.md) ---
MODEL_DIR ?= artifacts/model
EVAL_MODEL ?= model
# The shipped model's training split, for the round-trip baselines (make model builds it).
EVAL_DATASET ?= artifacts/dataset-10000-20261122
.PHONY: model train local demo

model: venv  ## rebuild the shipped default model into artifacts/model (cached) and compare its digest with model/
	$(VENV)/bin/python -m training model --out $(MODEL_DIR) $(if $(QUICK),--quick)

train: venv  ## retrain artifacts/model even when present (QUICK=1: the fast small CNN)
	$(VENV)/bin/python -m training model --out $(MODEL_DIR) --force $(if $(QUICK),--quick)

$(EVAL_DATASET)/manifest.json: | venv
	$(VENV)/bin/python -m training dataset --out $(EVAL_DATASET) --hacker 10000 --normal 10000 --workers 2

evaluate: venv $(EVAL_DATASET)/manifest.json  ## held-out evaluation of the shipped model on two markets: docs/evaluation/ (EVAL_MODEL=dir for another)
	$(VENV)/bin/python -m training evaluate --model $(EVAL_MODEL) --out docs/evaluation --training-dataset $(EVAL_DATASET)

# --- time-series detectors (anomalies/timeseries.py, docs/timeseries.md) ---
.PHONY: evaluate-timeseries
evaluate-timeseries: venv  ## score the time-series detectors on NAB's 24 files and planted anomalies: docs/timeseries/
	$(VENV)/bin/python -m anomalies.evaluate_timeseries --data data/nab --out docs/timeseries

# --- the whole system on this machine (local/stack.py, chartguard/demo.py) ---
local: venv  ## the local stack: moto + endpoint stand-in + event source; writes .local/stack.env (Ctrl-C stops)
	$(VENV)/bin/chartguard local

demo: venv  ## the main job end to end with no AWS account: simulated accounts scored, report written
	$(VENV)/bin/chartguard demo

clean:  ## remove environments and build output
	rm -rf $(VENV) $(VENV39) cdk.out layers/build node_modules .pytest_cache .ruff_cache .mypy_cache
