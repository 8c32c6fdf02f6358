"""The generated jupyterhub_config.py, loaded by the pinned JupyterHub, DockerSpawner and OAuthenticator."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from template_helpers import bake_ok, env_secrets, pins, variant_context

PROBE = Path(__file__).with_name("hub_config_probe.py")


def compose_environment(project, **overrides):
    """The hub's environment as docker-compose.yml passes it, from the generated .env."""
    values = env_secrets().parse_env((project / ".env").read_text())
    environment = {
        "PATH": "/usr/bin:/bin",
        "PUBLIC_HOSTNAME": values["PUBLIC_HOSTNAME"],
        "PUBLIC_HTTPS_PORT": values["HTTPS_PORT"],
        "JUPYTERHUB_AUTHENTICATOR": values["JUPYTERHUB_AUTHENTICATOR"],
        "GITHUB_CLIENT_ID": values["GITHUB_CLIENT_ID"],
        "GITHUB_CLIENT_SECRET": values["GITHUB_CLIENT_SECRET"],
        "GITHUB_ALLOWED_ORGANIZATIONS": values["GITHUB_ALLOWED_ORGANIZATIONS"],
        "GITHUB_URL": values["GITHUB_URL"],
        "TRIAL_PASSWORD": values["TRIAL_PASSWORD"],
        "TRIAL_ADMIN_PASSWORD": values["TRIAL_ADMIN_PASSWORD"],
        "ADMINS_CAN_ACCESS_SERVERS": values["ADMINS_CAN_ACCESS_SERVERS"],
        "CONFIGPROXY_AUTH_TOKEN": values["CONFIGPROXY_AUTH_TOKEN"],
        "NOTEBOOK_IMAGE": values["NOTEBOOK_IMAGE"],
        "DOCKER_NETWORK": values["DOCKER_NETWORK"],
        "MEM_LIMIT": values["MEM_LIMIT"],
        "CPU_LIMIT": values["CPU_LIMIT"],
        "CULL_IDLE_TIMEOUT": values["CULL_IDLE_TIMEOUT"],
        "USER_CONTAINER_PREFIX": values["USER_CONTAINER_PREFIX"],
        "USER_VOLUME_PREFIX": values["USER_VOLUME_PREFIX"],
        "DATABASE_URL": values["DATABASE_URL"],
        "JUPYTERHUB_USERLIST": str(project / "userlist"),
    }
    environment.update(overrides)
    return environment


def run_probe(project, environment, username="alice"):
    return subprocess.run(
        [sys.executable, str(PROBE), str(project / "hub" / "jupyterhub_config.py"), username],
        capture_output=True, text=True, env=environment, cwd=project,
    )


def load_config(project, username="alice", **overrides):
    result = run_probe(project, compose_environment(project, **overrides), username)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_no_config_warnings(config):
    relevant = [message for message in config["warnings"]
                if "not recognized" in message or "deprecated" in message.lower() or "Config option" in message]
    assert not relevant, relevant


def test_github_org_variant(cookies):
    project = bake_ok(cookies, variant_context("github-org"))
    config = load_config(project)
    assert_no_config_warnings(config)
    assert config["authenticator_class"] == "oauthenticator.github.GitHubOAuthenticator"
    assert config["client_id"] == "Ov23liExampleClientId"
    assert config["oauth_callback_url"] == "https://hub.lab.example.org/hub/oauth_callback"
    assert config["allowed_organizations"] == ["example-lab", "example-lab:teaching-assistants"]
    assert "read:org" in config["scope"]
    assert config["allowed_users"] == ["alice", "bob-admin", "carol", "dave"]
    # admins_can_access_servers: false -> no JupyterHub admins, an operator role without access:servers
    assert config["admin_users"] == []
    operator = next(role for role in config["load_roles"] if role["name"] == "operator")
    assert operator["users"] == ["alice", "bob-admin"]
    assert "admin-ui" in operator["scopes"]
    assert not any(scope.startswith(("access:servers", "tokens", "admin:auth_state")) for scope in operator["scopes"])
    assert config["allow_all"] is False
    assert config["allow_existing_users"] is False
    spawner = config["spawner"]
    assert spawner["image"] == f"quay.io/jupyter/datascience-notebook:{pins()['notebook_tag']}"
    assert spawner["mem_limit"] == 4 * 1024**3
    assert spawner["cpu_limit"] == 2.0


def test_local_trial_defaults(cookies):
    project = bake_ok(cookies, variant_context("local-trial"))
    config = load_config(project)
    assert_no_config_warnings(config)
    assert config["authenticator_class"] == "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
    assert len(config["user_password"]) >= 16 and len(config["admin_password"]) >= 32
    assert config["allowed_users"] == ["admin", "alice", "bob"]
    assert config["admin_users"] == ["admin"]  # admins_can_access_servers defaults to yes
    assert not any(role["name"] == "operator" for role in config["load_roles"])
    assert config["db_url"] == "sqlite:////data/jupyterhub.sqlite"
    assert config["cookie_secret_file"] == "/data/jupyterhub_cookie_secret"
    assert config["cleanup_servers"] is False
    assert config["allow_named_servers"] is False
    assert config["hub_connect_ip"] == "jupyterhub"
    spawner = config["spawner"]
    assert spawner["class"] == "dockerspawner.dockerspawner.DockerSpawner"
    assert spawner["network_name"] == "jupyterhub-network"
    assert spawner["use_internal_ip"] is True
    assert spawner["volumes"] == {"jupyterhub-user-{username}": "/home/jovyan/work"}
    assert spawner["notebook_dir"] == "/home/jovyan/work"
    assert spawner["remove"] is True
    assert spawner["cmd"] is None  # the image's own CMD
    assert spawner["mem_limit"] == 1024**3
    assert spawner["start_timeout"] >= 120 and spawner["http_timeout"] >= 120
    assert "no-new-privileges:true" in spawner["extra_host_config"]["security_opt"]


def test_services_have_least_privilege_roles(cookies):
    project = bake_ok(cookies, variant_context("local-trial"))
    config = load_config(project)
    roles = {role["name"]: role for role in config["load_roles"]}
    assert roles["idle-culler"]["services"] == ["idle-culler"]
    assert set(roles["idle-culler"]["scopes"]) == {"list:users", "read:users:activity", "read:servers", "delete:servers"}
    smoke = roles["smoke-test"]
    assert smoke["services"] == ["smoke-test"]
    assert all(scope.endswith("!user=smoke_test") for scope in smoke["scopes"])
    culler = next(service for service in config["services"] if service["name"] == "idle-culler")
    assert "--timeout=3600" in culler["command"]


def test_github_enterprise_url_and_custom_port(cookies):
    project = bake_ok(cookies, {"https_port": "8443", "http_port": "8080"})
    config = load_config(project, GITHUB_URL="http://github.test:8080")
    assert config["github_url"] == "http://github.test:8080"
    assert config["oauth_callback_url"] == "https://hub.example.org:8443/hub/oauth_callback"


def test_a_second_deployment_on_the_host_gets_its_own_names(cookies):
    project = bake_ok(cookies, {"authenticator": "local-trial", "allowed_users": "alice"})
    config = load_config(project, USER_CONTAINER_PREFIX="staging", USER_VOLUME_PREFIX="staging-user")
    assert config["spawner"]["container_name"] == "staging-alice"
    assert list(config["spawner"]["volume_binds"]) == ["staging-user-alice"]


def test_usernames_with_hyphens_get_valid_volume_names(cookies):
    """DockerSpawner >= 12 escapes '-' in {username}; the volume name must still be a valid Docker name."""
    project = bake_ok(cookies, {"authenticator": "local-trial", "allowed_users": "mary-jane"})
    config = load_config(project, username="mary-jane")
    assert "mary-jane" in config["allowed_users"]
    (volume,) = config["spawner"]["volume_binds"]
    assert re.fullmatch(r"jupyterhub-user-[a-z0-9][a-z0-9_.-]+", volume), volume
    assert volume.startswith("jupyterhub-user-mary")
    assert re.fullmatch(r"jupyter-[a-z0-9][a-z0-9_.-]+", config["spawner"]["container_name"])


@pytest.mark.parametrize("bad_line", ["bad name here", "-x"])
def test_a_broken_userlist_stops_the_hub(cookies, bad_line):
    project = bake_ok(cookies, {"authenticator": "local-trial"})
    with (project / "userlist").open("a") as handle:
        handle.write(bad_line + "\n")
    result = run_probe(project, compose_environment(project))
    assert result.returncode != 0
    assert "userlist:4:" in result.stderr


def test_missing_setting_stops_the_hub_with_its_name(cookies):
    project = bake_ok(cookies, {"authenticator": "local-trial"})
    environment = compose_environment(project)
    del environment["NOTEBOOK_IMAGE"]
    result = run_probe(project, environment)
    assert result.returncode != 0
    assert "NOTEBOOK_IMAGE is not set" in result.stderr
