"""The generated jupyterhub_config.py, loaded by the pinned JupyterHub, DockerSpawner and OAuthenticator."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from template_helpers import bake_ok, pins, variant_context

PROBE = Path(__file__).with_name("hub_config_probe.py")


def compose_environment(project, **overrides):
    """The hub's environment exactly as docker-compose.yml passes it from the generated .env."""
    result = subprocess.run(["docker", "compose", "--project-directory", str(project), "config", "--format", "json"],
                            capture_output=True, text=True, check=True)
    environment = dict(json.loads(result.stdout)["services"]["hub"]["environment"])
    # The config's internal() userlist path is inside the image; point it at the generated file.
    environment.update(PATH="/usr/bin:/bin", JUPYTERHUB_USERLIST=str(project / "userlist"))
    environment.update(overrides)
    return environment


def run_probe(project, environment, username="alice", user_options=None):
    extra = [] if user_options is None else [json.dumps(user_options)]
    return subprocess.run(
        [sys.executable, str(PROBE), str(project / "hub" / "jupyterhub_config.py"), username, *extra],
        capture_output=True, text=True, env=environment, cwd=project,
    )


def load_config(project, username="alice", user_options=None, **overrides):
    result = run_probe(project, compose_environment(project, **overrides), username, user_options)
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
    assert spawner["class"] == "spawn_queue.QueuedDockerSpawner"
    assert spawner["queue_width"] == 0, "default: one more than the host's CPUs"
    assert spawner["docker_api_threads"] == 4
    assert spawner["ready_poll_ms"] == 500
    assert config["concurrent_spawn_limit"] == 200, "queued users count: a class of 50+ must not get HTTP 429"
    assert spawner["client_kwargs"] == {"max_pool_size": 10}, "docker-py's default pool already holds 4 threads"
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


def test_spawn_queue_width_from_env(cookies):
    project = bake_ok(cookies, {"authenticator": "local-trial"})
    config = load_config(project, SPAWN_QUEUE_WIDTH="3")
    assert_no_config_warnings(config)
    assert config["spawner"]["queue_width"] == 3


def test_concurrent_spawn_limit_from_env(cookies):
    project = bake_ok(cookies, {"authenticator": "local-trial"})
    assert load_config(project, CONCURRENT_SPAWN_LIMIT="0")["concurrent_spawn_limit"] == 0, "0: no limit"


def test_docker_api_threads_from_env(cookies):
    project = bake_ok(cookies, {"authenticator": "local-trial"})
    config = load_config(project, DOCKER_API_THREADS="16", SPAWN_READY_POLL_MS="200")
    assert_no_config_warnings(config)
    assert config["spawner"]["docker_api_threads"] == 16
    assert config["spawner"]["ready_poll_ms"] == 200
    assert config["spawner"]["client_kwargs"] == {"max_pool_size": 16}, "a kept connection per thread"


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


# --- Environments, shared folders, GPUs (hub/environments.py) -----------------

IMAGE_CHOICES = "Python=quay.io/jupyter/scipy-notebook:2026-11-23,R stats=quay.io/jupyter/r-notebook:2026-11-23"
SIZE_CHOICES = "small=1G/0.5,large=4G/2"


def test_by_default_one_image_no_form_no_gpus_no_shared_folders(cookies):
    project = bake_ok(cookies, variant_context("local-trial"))
    config = load_config(project)
    spawner = config["spawner"]
    assert spawner["options_form"] == ""
    assert spawner["allowed_images"] == {}
    assert spawner["group_overrides"] == {}
    assert "device_requests" not in spawner["extra_host_config"]
    assert list(spawner["volumes"]) == ["jupyterhub-user-{username}"]
    assert config["load_groups"] == {}
    # Without choices, asking for an image is refused before anything starts.
    refused = load_config(project, user_options={"image": "docker.io/library/debian:12"})
    assert refused["spawner"]["user_options_error"]["status"] == 400


def test_images_and_sizes_make_a_form_and_only_listed_values_start(cookies):
    project = bake_ok(cookies, variant_context("local-trial"))
    choices = {"NOTEBOOK_IMAGES": IMAGE_CHOICES, "NOTEBOOK_SIZES": SIZE_CHOICES}
    config = load_config(project, **choices)
    assert_no_config_warnings(config)
    spawner = config["spawner"]
    assert spawner["allowed_images"] == {
        "Python": "quay.io/jupyter/scipy-notebook:2026-11-23", "R stats": "quay.io/jupyter/r-notebook:2026-11-23",
    }
    # The first entries are the defaults.
    assert spawner["image"] == "quay.io/jupyter/scipy-notebook:2026-11-23"
    assert (spawner["mem_limit"], spawner["cpu_limit"]) == (1024**3, 0.5)
    form = spawner["options_form"]
    assert re.findall(r'<select [^>]*name="(\w+)"', form) == ["image", "size"]
    assert re.findall(r'<option value="([^"]+)"', form) == ["Python", "R stats", "small", "large"]
    chosen = load_config(project, user_options={"image": "R stats", "size": "large"}, **choices)
    assert chosen["spawner"]["user_options_error"] is None
    assert (chosen["spawner"]["mem_limit"], chosen["spawner"]["cpu_limit"]) == (4 * 1024**3, 2.0)
    for refused_options in ({"image": "quay.io/jupyter/r-notebook:2026-11-23"}, {"size": "huge"}, {"size": ["large"]}):
        refused = load_config(project, user_options=refused_options, **choices)["spawner"]["user_options_error"]
        assert refused["status"] == 400 and "is not offered" in refused["message"], refused


@pytest.mark.parametrize("value, count", [("all", -1), ("2", 2)])
def test_gpus_become_device_requests_without_warnings(cookies, value, count):
    project = bake_ok(cookies, variant_context("local-trial"))
    config = load_config(project, USER_GPUS=value)
    assert_no_config_warnings(config)
    host_config = config["spawner"]["extra_host_config"]
    assert host_config["device_requests"] == [
        {"driver": "", "count": count, "device_ids": [], "capabilities": [["gpu"]], "options": {}}
    ]
    assert host_config["security_opt"] == ["no-new-privileges:true"]


def test_shared_data_is_read_only_and_group_folders_go_to_members(cookies):
    project = bake_ok(cookies, {"authenticator": "local-trial", "admin_users": "admin", "allowed_users": "carol"})
    with (project / "userlist").open("a") as handle:
        handle.write("alice @physics\nbob @physics @chem\n")
    config = load_config(project, SHARED_DATA="/srv/datasets", GROUP_FOLDERS="physics=lab-physics,chem=/srv/chem")
    assert_no_config_warnings(config)
    spawner = config["spawner"]
    assert spawner["volumes"]["/srv/datasets"] == {"bind": "/home/jovyan/work/shared-data", "mode": "ro"}
    assert spawner["volume_binds"]["/srv/datasets"] == {"bind": "/home/jovyan/work/shared-data", "mode": "ro"}
    assert spawner["group_overrides"] == {
        "group-folder-physics": {"groups": ["physics"], "spawner_override": {
            "volumes": {"lab-physics": {"bind": "/home/jovyan/work/groups/physics", "mode": "rw"}}}},
        "group-folder-chem": {"groups": ["chem"], "spawner_override": {
            "volumes": {"/srv/chem": {"bind": "/home/jovyan/work/groups/chem", "mode": "rw"}}}},
    }
    assert config["load_groups"] == {"chem": {"users": ["bob"]}, "physics": {"users": ["alice", "bob"]}}
    assert {"alice", "bob", "carol"} <= set(config["allowed_users"])


@pytest.mark.parametrize("name, value", [
    ("NOTEBOOK_IMAGES", "Python=quay.io/jupyter/scipy-notebook:latest"),
    ("NOTEBOOK_SIZES", "small=lots/1"),
    ("USER_GPUS", "two"),
    ("SHARED_DATA", "/srv/data:rw"),
    ("GROUP_FOLDERS", "Physics!=lab"),
])
def test_a_bad_environment_setting_stops_the_hub_with_its_name(cookies, name, value):
    project = bake_ok(cookies, {"authenticator": "local-trial"})
    result = run_probe(project, compose_environment(project, **{name: value}))
    assert result.returncode != 0
    assert f"jupyterhub_config.py: {name}=" in result.stderr


@pytest.mark.parametrize("line, fragment", [
    ("c.DockerSpawner.container_image = 'quay.io/jupyter/base-notebook:2026-11-23'", "container_image"),
    ("c.Authenticator.whitelist = {'alice'}", "whitelist"),
    ("c.JupyterHub.no_such_option = 1", "no_such_option"),
])
def test_the_probe_reports_deprecated_and_unknown_options(cookies, line, fragment):
    """The no-warnings assertions above can fail: an old or misspelled option is reported."""
    project = bake_ok(cookies, {"authenticator": "local-trial"})
    with (project / "hub" / "jupyterhub_config.py").open("a") as handle:
        handle.write(f"\n{line}\n")
    config = load_config(project)
    assert any(fragment in message for message in config["warnings"]), config["warnings"]
