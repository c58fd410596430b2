# The README's commands. Each target installs what it needs by itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
# The Lambda runtime's interpreter (pyenv holds it beside the default 3.11).
PY39     ?= env PYENV_VERSION=3.9.18 python3.9
VENV     := .venv
VENV39   := .venv39
PIP_FLAGS := --disable-pip-version-check -q -c requirements.txt

.PHONY: help venv venv39 test test-unit test39 lint format bench layer synth demo local evaluate clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[function,test,dev,training,infra]'
	touch $@

$(VENV39)/.installed: requirements.txt pyproject.toml
	$(PY39) -m venv $(VENV39)
	$(VENV39)/bin/pip install $(PIP_FLAGS) -e '.[function,test]'
	touch $@

venv: $(VENV)/.installed  ## the development environment (Python 3.11: everything)
venv39: $(VENV39)/.installed  ## the Lambda runtime's environment (Python 3.9: function + tests)

test: venv venv39  ## run the whole suite under 3.11, then the function's tests under 3.9
	$(VENV)/bin/pytest
	$(VENV39)/bin/pytest tests/unit tests/integration

test-unit: venv  ## unit tests only (no network, a few seconds)
	$(VENV)/bin/pytest tests/unit

lint: venv  ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambdas/scoring training infra chartguard

format: venv  ## apply ruff's fixes and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv venv39  ## benchmarks: print figures (see README "Performance")
	$(VENV)/bin/python -m bench.render
	$(VENV)/bin/python -m bench.handler
	$(VENV39)/bin/python -m bench.coldstart

clean:  ## remove environments and build output
	rm -rf $(VENV) $(VENV39) cdk.out layers/build .pytest_cache .ruff_cache .mypy_cache
