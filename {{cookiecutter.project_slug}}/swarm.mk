# {{ cookiecutter.project_name }} on Docker Swarm: the targets that differ from one host.
# Included by the Makefile; run them on a manager node (DOCKER_HOST may point at one).
STACK := {{ cookiecutter.project_slug }}
USER_PREFIX = $(or $(call env_value,USER_CONTAINER_PREFIX),jupyter)
# smoke, status, metrics, backup, restore and upgrade drive docker compose: not on Swarm yet.
NOT_ON_SWARM = echo "error: make $@ is not available on Swarm yet (it drives docker compose; README, 'Swarm')" >&2; exit 1

.PHONY: manager

manager: ## Check that this Docker engine is a Swarm manager (says what to run if not)
	@$(PYTHON) scripts/swarm.py manager

network: manager ## Create the attachable overlay network for hub and user servers (if missing)
	@docker network inspect "$(NETWORK)" >/dev/null 2>&1 \
		&& echo "network: $(NETWORK) exists" \
		|| { docker network create --driver overlay --attachable "$(NETWORK)" >/dev/null \
			&& echo "network: created overlay $(NETWORK)"; }

up: manager check network volumes ## Check, build the hub image, deploy the stack (docker stack deploy); wait until healthy
	$(COMPOSE) build hub
	@$(PYTHON) scripts/swarm.py deploy
	@echo "up: JupyterHub is at $(PUBLIC_URL)"

down: manager ## Remove the stack's services (network, volumes, secrets and user servers stay)
	docker stack rm $(STACK)

restart: manager ## Restart the hub and nginx (re-reads userlist; user servers keep running)
	docker service update --force --detach=false $(STACK)_hub
	docker service update --force --detach=false $(STACK)_nginx

logs: manager ## Follow the hub's and nginx's logs
	docker service logs --follow --tail=200 $(STACK)_hub & docker service logs --follow --tail=200 $(STACK)_nginx; wait

ps: manager ## Show the stack's tasks and the user servers with the node each runs on
	@docker stack ps $(STACK) --filter desired-state=running
	@echo "user servers (NODE: where each runs):"; docker service ps --filter desired-state=running \
		$$(docker service ls -q --filter "name=$(USER_PREFIX)-") 2>/dev/null || echo "  (none)"
