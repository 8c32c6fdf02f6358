"""The Swarm target's pieces that need no swarm: user mounts (named volume, NFS), the pinned
node's checks and message, the manager check's one line, secret names, and the generated repo."""

import subprocess
import sys

import pytest

from template_helpers import PROJECT_TEMPLATE, bake_ok, load_module, variant_context

sys.path.insert(0, str(PROJECT_TEMPLATE / "hub"))
swarm = load_module(PROJECT_TEMPLATE / "hub" / "swarm.py", "swarm")


def node(hostname, availability="active", state="ready"):
    return {"Description": {"Hostname": hostname}, "Spec": {"Availability": availability}, "Status": {"State": state}}


def spawner(**settings):
    spawner = swarm.SiteSwarmSpawner(**settings)
    spawner.volumes = {"jupyterhub-user-{username}": "/home/jovyan/work", "/srv/shared": {"bind": "/home/jovyan/shared", "mode": "ro"}}
    spawner.user = type("User", (), {"name": "alice", "id": 1, "url": "/user/alice/"})()
    return spawner


def test_pinned_mode_mounts_named_volumes_of_the_node():
    mounts = spawner().mounts
    shared, home = sorted(mounts, key=lambda mount: mount["Target"])
    assert home["Type"] == "volume" and home["Source"] == "jupyterhub-user-alice" and "VolumeOptions" not in home
    assert shared["Type"] == "bind" and shared["ReadOnly"] is True


def test_nfs_mode_mounts_one_folder_of_the_export_per_volume():
    mounts = spawner(nfs_server="10.0.0.5", nfs_export="/export/homes/", nfs_options="nfsvers=4.1,rw").mounts
    home = next(mount for mount in mounts if mount["Target"] == "/home/jovyan/work")
    assert home["Type"] == "volume"
    assert home["VolumeOptions"]["DriverConfig"] == {
        "Name": "local",
        "Options": {"type": "nfs", "o": "addr=10.0.0.5,nfsvers=4.1,rw", "device": ":/export/homes/jupyterhub-user-alice"},
    }


def test_pinned_state_survives_a_hub_restart():
    first = spawner()
    first.home_node = "worker-2"
    state = first.get_state()
    assert state["home_node"] == "worker-2"
    second = spawner()
    second.load_state(state)
    assert second.home_node == "worker-2" and second.pinned


@pytest.mark.parametrize("nodes, problem", [
    ([node("w1"), node("w2")], None),
    ([node("w1"), node("w2", availability="drain")], "is drained (not accepting servers)"),
    ([node("w1"), node("w2", availability="pause")], "is paused (not accepting servers)"),
    ([node("w1"), node("w2", state="down")], "is down"),
    ([node("w1")], "has left the swarm"),
])
def test_node_problem(nodes, problem):
    assert swarm.node_problem(nodes, "w2") == problem


def test_pinned_message_names_the_node_and_the_way_back():
    message = swarm.pinned_message("w2", "is drained (not accepting servers)")
    assert "w2" in message and "docker node update --availability active w2" in message and "\n" not in message


def test_configure_reads_the_swarm_settings():
    values = {"CONFIGPROXY_AUTH_TOKEN": "t", "USER_SERVER_CONSTRAINTS": "node.role==worker, node.labels.gpu==true",
              "NFS_SERVER": "nfs.example.org"}
    class Section(dict):
        def __getattr__(self, name):
            return self.setdefault(name, Section())

    config = Section()
    swarm.configure(config, lambda name, default=None: values.get(name, default))
    assert config.JupyterHub.spawner_class is swarm.SiteSwarmSpawner
    assert config.ConfigurableHTTPProxy.auth_token == "t"
    assert config.SiteSwarmSpawner.constraints == ["node.role==worker", "node.labels.gpu==true"]
    assert config.SiteSwarmSpawner.nfs_server == "nfs.example.org"
    assert config.SiteSwarmSpawner.extra_endpoint_spec == {"mode": "dnsrr"}


def test_swarm_repo_layout(cookies):
    project = bake_ok(cookies, variant_context("swarm"))
    for name in ("docker-stack.yml", "swarm.mk", "hub/swarm.py", "scripts/swarm.py"):
        assert (project / name).is_file(), name
    assert not (project / "docker-compose.yml").exists()
    assert "COMPOSE_FILE=docker-stack.yml\n" in (project / ".env.example").read_text()
    stack = (project / "docker-stack.yml").read_text()
    assert stack.count("constraints: [node.role == manager]") == 2
    compose_project = bake_ok(cookies, {})
    for name in ("docker-stack.yml", "swarm.mk", "hub/swarm.py", "scripts/swarm.py"):
        assert not (compose_project / name).exists(), name


def test_docker_stack_config_accepts_the_stack(cookies):
    """`docker stack config` (the CLI's own loader, no swarm needed) with the values of .env."""
    project = bake_ok(cookies, variant_context("swarm"))
    result = subprocess.run([sys.executable, "scripts/swarm.py", "config"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "docker-stack.yml is valid for docker stack deploy" in result.stdout


def test_secret_names_change_with_the_value_and_reveal_nothing(cookies):
    project = bake_ok(cookies, variant_context("swarm"))
    scripts = load_module(project / "scripts" / "swarm.py", "swarm_script")
    first = scripts.secret_name("TRIAL_PASSWORD", "hunter2", "salt")
    assert first.startswith("swarm-hub-deploy-trial_password-") and "hunter2" not in first
    assert scripts.secret_name("TRIAL_PASSWORD", "hunter3", "salt") != first
    assert scripts.secret_name("TRIAL_PASSWORD", "hunter2", "salt") == first


def test_stopping_waits_for_the_task_to_stop_before_removing_the_service():
    """Scale to zero, wait while the task still runs, then remove (a restart must not meet the old server)."""
    import asyncio

    calls, states = [], iter(["running", "running", "shutdown"])

    async def docker(method, *args, **kwargs):
        calls.append(method)
        if method == "inspect_service":
            return {"ID": "s1", "Version": {"Index": 7}}
        if method == "tasks":
            return [{"Status": {"State": next(states)}}]
        if method == "update_service":
            assert args == ("s1", 7) and kwargs["mode"] == {"replicated": {"Replicas": 0}} and kwargs["fetch_current_spec"]
        return None

    stopping = spawner()
    stopping.docker = docker
    stopping.object_id = "s1"
    asyncio.run(stopping.remove_object())
    assert calls == ["inspect_service", "update_service", "tasks", "tasks", "tasks", "remove_service"]


def test_servers_are_reached_at_their_task_address_on_the_user_network():
    reached = spawner(network_name="jupyterhub-network")
    task = {"NetworksAttachments": [
        {"Network": {"Spec": {"Name": "ingress"}}, "Addresses": ["10.0.0.9/24"]},
        {"Network": {"Spec": {"Name": "jupyterhub-network"}}, "Addresses": ["10.0.1.6/24"]},
    ]}
    assert reached.task_address(task) == "10.0.1.6"
    assert reached.task_address({"NetworksAttachments": None}) is None


@pytest.mark.parametrize("target", ["smoke", "status", "metrics", "backup", "restore", "upgrade"])
def test_compose_only_targets_refuse_on_swarm_in_one_line(cookies, target):
    project = bake_ok(cookies, variant_context("swarm"))
    result = subprocess.run(["make", "-s", target], cwd=project, capture_output=True, text=True)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: make {target} is not available on Swarm yet (it drives docker compose; README, 'Swarm')"]


def test_the_swarm_hub_config_loads_under_the_pinned_jupyterhub(cookies, tmp_path):
    """docker-stack.yml's hub environment, secrets as files (as Docker secrets arrive): the real
    JupyterHub loads the config with SiteSwarmSpawner and the secret values, and warns of nothing."""
    import json

    from test_hub_config import run_probe

    project = bake_ok(cookies, variant_context("swarm"))
    rendered = subprocess.run(["docker", "compose", "--project-directory", str(project), "-f", str(project / "docker-stack.yml"),
                               "config", "--format", "json"], capture_output=True, text=True, check=True)
    environment = dict(json.loads(rendered.stdout)["services"]["hub"]["environment"])
    assert not {"TRIAL_PASSWORD", "CONFIGPROXY_AUTH_TOKEN", "STATUS_API_TOKEN"} & set(environment)
    values = load_module(project / "scripts" / "env_secrets.py", "env_secrets_swarm").parse_env((project / ".env").read_text())
    for key in [key for key in environment if key.endswith("_FILE")]:
        # As scripts/swarm.py makes each Docker secret: the value from .env (empty ones as a newline).
        (tmp_path / key).write_text(values.get(key.removesuffix("_FILE")) or "\n")
        environment[key] = str(tmp_path / key)
    # No Docker API here: the servers' hub address falls back to the service name.
    environment.update(PATH="/usr/bin:/bin", JUPYTERHUB_USERLIST=str(project / "userlist"), DOCKER_HOST="unix:///nonexistent.sock")
    result = run_probe(project, environment)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout.strip().splitlines()[-1])
    assert config["spawner"]["class"] == "swarm.SiteSwarmSpawner"
    assert config["user_password"] == values["TRIAL_PASSWORD"] and config["admin_password"] == values["TRIAL_ADMIN_PASSWORD"]
    assert config["spawner"]["volume_binds"] == {"jupyterhub-user-alice": {"bind": "/home/jovyan/work", "mode": "rw"}}
    relevant = [message for message in config["warnings"] if "not recognized" in message and "`remove`" not in message]
    assert not relevant, relevant
