# Template development: `make test` sets up everything on a fresh machine and runs all tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest

.PHONY: help venv system engine test test-fast e2e bench bench-short generate demo demo-down clean

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
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTEST) -m "not e2e" --junitxml=build/fast-tests.xml
	$(MAKE) e2e

test-fast: venv system ## Only the fast tests (generation, config, nginx, hooks)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTEST) -m "not e2e" --junitxml=build/fast-tests.xml

e2e: venv system engine ## The end-to-end suite on a real Docker engine (stops the engine if it started it)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTEST) -m e2e tests/e2e; status=$$?; tests/e2e/engine.sh stop; exit $$status

bench: venv system engine ## Benchmarks against the machine's limits (about 25 min): docs/benchmarks.md and .png
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python bench/run.py $(BENCH_ARGS)

bench-short: venv system engine ## The same benchmarks on small settings (a few minutes): build/bench/benchmarks.md
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python bench/run.py --short $(BENCH_ARGS)

generate: venv ## Generate a deployment with the defaults into build/
	mkdir -p build
	$(VENV)/bin/cookiecutter --no-input --overwrite-if-exists -o build .

# The demo: the local-trial variant for https://localhost on high ports.  Every Docker name
# starts with DEMO_NAME, so `make demo-down` finds all of it and nothing else.
DEMO_DIR ?= build/demo
DEMO_NAME ?= jupyterhub-demo
DEMO_HTTP_PORT ?= 8080
DEMO_HTTPS_PORT ?= 8443
DEMO_PROJECT = $(DEMO_DIR)/$(DEMO_NAME)

demo: venv ## Try it first: a local-trial hub at https://localhost:8443 in build/demo (needs Docker; root starts one)
	@test -d "$(DEMO_PROJECT)" || { \
		JUPYTERHUB_TEMPLATE_SKIP_DOCKER=1 $(VENV)/bin/cookiecutter --no-input -o "$(DEMO_DIR)" \
			--config-file variants/local-trial.yaml . project_name="JupyterHub demo" project_slug="$(DEMO_NAME)" \
			hostname=localhost http_port="$(DEMO_HTTP_PORT)" https_port="$(DEMO_HTTPS_PORT)" \
			docker_network="$(DEMO_NAME)-network" data_volume="$(DEMO_NAME)-data" >/dev/null \
		&& sed -i -e 's/^USER_CONTAINER_PREFIX=.*/USER_CONTAINER_PREFIX=$(DEMO_NAME)/' \
			-e 's/^USER_VOLUME_PREFIX=.*/USER_VOLUME_PREFIX=$(DEMO_NAME)-user/' "$(DEMO_PROJECT)/.env" \
		&& echo "demo: generated $(DEMO_PROJECT)"; }
	@$(MAKE) --no-print-directory engine
	@echo "demo: images: the pinned ones if present or pullable, else local stand-ins built from Debian, PyPI and npm (minutes, once)"
	@$(PYTHON) tests/images/standins.py $$(sed -n 's/^\(JUPYTERHUB_IMAGE\|NOTEBOOK_IMAGE\|NGINX_IMAGE\)=//p' "$(DEMO_PROJECT)/.env")
	@$(MAKE) --no-print-directory -C "$(DEMO_PROJECT)" network volumes certs up
	@echo "demo: open https://localhost:$(DEMO_HTTPS_PORT) (the certificate is from the local CA $(DEMO_PROJECT)/nginx/test-ca/ca.crt: trust it or accept the warning)"
	@echo "demo: users: $$(awk '!/^#/ && NF {printf "%s%s%s", sep, $$1, ($$2 == "admin" ? " (admin)" : ""); sep = ", "}' "$(DEMO_PROJECT)/userlist")"
	@echo "demo: passwords: TRIAL_PASSWORD (users) and TRIAL_ADMIN_PASSWORD (admins) in $(DEMO_PROJECT)/.env"
	@echo "demo: 'make demo-down' removes it all"

demo-down: ## Remove the demo: stack, user containers and volumes, network, data volume, hub image, build/demo
	@if [ -d "$(DEMO_PROJECT)" ]; then docker compose --project-directory "$(DEMO_PROJECT)" down --remove-orphans; \
		else docker compose -p "$(DEMO_NAME)" down --remove-orphans; fi
	@containers=$$(docker ps -a --format '{{.Names}}' | grep -E '^$(DEMO_NAME)-' || true); \
		[ -z "$$containers" ] || docker rm -f $$containers >/dev/null
	@volumes=$$(docker volume ls -q | grep -E '^$(DEMO_NAME)-' || true); \
		[ -z "$$volumes" ] || docker volume rm $$volumes >/dev/null
	@! docker network inspect "$(DEMO_NAME)-network" >/dev/null 2>&1 || docker network rm "$(DEMO_NAME)-network" >/dev/null
	@! docker image inspect "$(DEMO_NAME)-hub:local" >/dev/null 2>&1 || docker image rm "$(DEMO_NAME)-hub:local" >/dev/null
	rm -rf "$(DEMO_PROJECT)"
	@rmdir "$(DEMO_DIR)" 2>/dev/null || true
	@echo "demo-down: removed $(DEMO_NAME) (containers, volumes, network, hub image, $(DEMO_PROJECT)); pulled or stand-in images stay"

clean: ## Remove the venv and generated output
	rm -rf $(VENV) build .pytest_cache
