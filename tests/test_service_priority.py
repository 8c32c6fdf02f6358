"""The site's own services outweigh user containers on the CPU (docker-compose.yml cpu_shares)."""

import json
import subprocess

from template_helpers import bake_ok, variant_context

USER_CONTAINER_WEIGHT = 1024  # Docker's default; DockerSpawner sets none
EXPECTED_WEIGHTS = {"hub": 4096, "nginx": 2048, "docker-proxy": 2048, "db": 2048}


def compose_services(project):
    result = subprocess.run(["docker", "compose", "--project-directory", str(project), "config", "--format", "json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["services"]


def test_hub_nginx_proxy_and_database_weigh_more_than_user_containers(cookies):
    project = bake_ok(cookies, {**variant_context("socket-proxy"), "database": "postgresql"})
    services = compose_services(project)
    assert {name: services[name].get("cpu_shares") for name in EXPECTED_WEIGHTS} == EXPECTED_WEIGHTS
    assert all(weight > USER_CONTAINER_WEIGHT for weight in EXPECTED_WEIGHTS.values())
    assert services["hub"]["cpu_shares"] > services["nginx"]["cpu_shares"], "the hub decides every login and spawn"


def test_host_nginx_hub_keeps_its_weight(cookies):
    services = compose_services(bake_ok(cookies, variant_context("host-nginx")))
    assert services["hub"]["cpu_shares"] == EXPECTED_WEIGHTS["hub"]
    assert "nginx" not in services
