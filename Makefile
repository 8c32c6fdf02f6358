# Template development: `make test` sets up everything on a fresh machine and runs all tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest

.PHONY: help venv system engine test test-fast e2e bench generate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned dev tools

system: ## Install missing Debian packages the tests use (root)
	tests/setup-system.sh

engine: ## Start a Docker engine and the Compose plugin if none answers (root)
	tests/e2e/engine.sh start

test: venv system engine ## Set up everything, then run the fast tests and the end-to-end suite
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTEST) -m "not e2e"
	$(MAKE) e2e

test-fast: venv system ## Only the fast tests (generation, config, nginx, hooks)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTEST) -m "not e2e"

e2e: venv system engine ## The end-to-end suite on a real Docker engine (stops the engine if it started it)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTEST) -m e2e tests/e2e; status=$$?; tests/e2e/engine.sh stop; exit $$status

bench: venv system engine ## 20 simultaneous spawns on a live deployment; figures in build/e2e-load.json
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTEST) -m e2e tests/e2e/test_load.py
	@cat build/e2e-load.json build/e2e-phases.json

generate: venv ## Generate a deployment with the defaults into build/
	mkdir -p build
	$(VENV)/bin/cookiecutter --no-input --overwrite-if-exists -o build .

clean: ## Remove the venv and generated output
	rm -rf $(VENV) build .pytest_cache
