"""The Swarm target (deployment_target swarm) on a real three-node Docker Swarm.

Each node is a Docker engine in a container (tests/images/dind: Debian's
docker.io) on a private bridge network, with its own volume at /var/lib/docker;
the manager initialises the swarm and the two workers join it with the real
worker token.  The host's own engine is never put in swarm mode: the nodes
are driven over their published API ports.  Images reach the nodes the way
`docker save | docker load` carries them (no registry is reachable here).

The generated repository is mounted into the manager at the same path, as a
checkout on the manager would be, and the operator's commands run against the
manager (DOCKER_HOST).  Users' homes are named volumes on the node of their
first start (no NFS here: this machine's kernel has no NFS client), so the
pinned mode is what the drain test proves.  Tests run in file order on one swarm.
"""

import json
import os
import shutil
import subprocess
import time

import pytest
from cookiecutter.main import cookiecutter

from e2e_helpers import (
    TEMPLATE_DIR,
    Deployment,
    ensure_stand_ins,
    execute,
    open_server,
    run,
    set_env,
    start_server,
    terminal_output,
    user_model,
    wait_until,
    xsrf_headers,
)

PREFIX = "jh-swarm"
BRIDGE = f"{PREFIX}-nodes"
NODES = {"manager": 19101, "worker1": 19102, "worker2": 19103}  # node -> published Docker API port
HTTP_PORT, HTTPS_PORT = 19180, 19143
HOSTNAME = "hub.swarm.e2e.test"
NETWORK, VOLUME = f"{PREFIX}-users", f"{PREFIX}-data"
USERS = ["alice", "bob", "carol"]
CONTEXT = {
    "project_name": "Swarm E2E", "project_slug": f"{PREFIX}-deploy", "hostname": HOSTNAME,
    "authenticator": "local-trial", "admin_users": "admin", "allowed_users": " ".join(USERS),
    "notebook_image_flavor": "base-notebook", "mem_limit": "512M", "cpu_limit": "0.5",
    "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT),
    "docker_network": NETWORK, "data_volume": VOLUME, "deployment_target": "swarm",
}
# Flags that run a Docker engine in a container on this machine (--privileged is refused here).
NODE_FLAGS = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
              "--security-opt", "apparmor=unconfined", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
              "-e", "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1"]


def node_host(node):
    return f"tcp://127.0.0.1:{NODES[node]}"


def on(node, *args, check=True, timeout=300):
    """A docker command against one node's engine."""
    return run(["docker", "-H", node_host(node), *args], check=check, timeout=timeout)


def node_name(node):
    return f"{PREFIX}-{node}"


def remove_nodes():
    """Every node (with its engine's whole state, in its volume), and the bridge network."""
    names = [node_name(node) for node in NODES]
    run(["docker", "rm", "-f", "-v", *names], check=False)
    run(["docker", "volume", "rm", "-f", *[f"{name}-docker" for name in names]], check=False)
    run(["docker", "network", "rm", BRIDGE], check=False)


def start_nodes(project):
    run(["docker", "network", "create", BRIDGE])
    for node, api_port in NODES.items():
        ports = ["-p", f"127.0.0.1:{api_port}:2375"]
        if node == "manager":
            # nginx publishes its ports on the manager (mode: host); the checkout sits at the same path.
            ports += ["-p", f"127.0.0.1:{HTTPS_PORT}:{HTTPS_PORT}", "-v", f"{project}:{project}"]
        run(["docker", "run", "-d", "--name", node_name(node), "--hostname", node_name(node), "--network", BRIDGE,
             *NODE_FLAGS, "-v", f"{node_name(node)}-docker:/var/lib/docker", *ports, standin_dind()])
    for node in NODES:
        wait_until(lambda node=node: on(node, "info", "--format", "{{.ServerVersion}}", check=False).returncode == 0,
                   90, f"the engine of {node}")


def standin_dind():
    from standins import DIND_IMAGE

    return DIND_IMAGE


def load_images(images_by_node):
    """`docker save | docker load` into every node at once; returns the seconds it took."""
    started = time.monotonic()
    loads = []
    for node, images in images_by_node.items():
        save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        load = subprocess.Popen(["docker", "-H", node_host(node), "load", "-q"], stdin=save.stdout,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        save.stdout.close()
        loads.append((node, save, load))
    for node, save, load in loads:
        out, err = load.communicate(timeout=600)
        assert save.wait() == 0 and load.returncode == 0, f"loading images into {node}: {err}"
    return round(time.monotonic() - started, 1)


def form_swarm():
    address = run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                   node_name("manager")]).stdout.strip()
    on("manager", "swarm", "init", "--advertise-addr", address)
    token = on("manager", "swarm", "join-token", "-q", "worker").stdout.strip()
    for node in NODES:
        if node != "manager":
            on(node, "swarm", "join", "--token", token, f"{address}:2377")


def operator_make(site, *targets, check=True):
    """`make` as the operator runs it on the manager."""
    return run(["make", "-C", str(site.path), *targets], env={"DOCKER_HOST": node_host("manager")},
               check=check, timeout=900)


def task_node(service):
    """The node running the service's task now (empty while none runs)."""
    lines = on("manager", "service", "ps", service, "--filter", "desired-state=running",
               "--format", "{{.Node}} {{.CurrentState}}").stdout.split("\n")
    return next((line.split()[0] for line in lines if " Running" in line), "")


def server_node(name):
    return task_node(f"jupyter-{name}")


@pytest.fixture(scope="module")
def site(tmp_path_factory, phase_times):
    started = time.monotonic()
    ensure_stand_ins(standin_dind())
    phase_times["swarm_images"] = round(time.monotonic() - started, 1)
    remove_nodes()
    site = None
    try:
        started = time.monotonic()
        output = tmp_path_factory.mktemp("e2e-swarm")
        project = cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(output), extra_context=CONTEXT)
        site = Deployment(output / CONTEXT["project_slug"])
        assert str(site.path) == project
        # User servers on the workers only (the manager runs hub and nginx), as README suggests.
        set_env(site, USER_SERVER_CONSTRAINTS="node.role==worker")
        run(["make", "-C", project, "certs"])
        start_nodes(site.path)
        form_swarm()
        phase_times["swarm_nodes"] = round(time.monotonic() - started, 1)
        hub, notebook, nginx = (site.env[key] for key in ("JUPYTERHUB_IMAGE", "NOTEBOOK_IMAGE", "NGINX_IMAGE"))
        phase_times["swarm_image_loads"] = load_images({
            # The hub reads the notebook image's command on the manager; servers run on the workers.
            "manager": [hub, nginx, notebook], "worker1": [notebook], "worker2": [notebook]})
        started = time.monotonic()
        operator_make(site, "network", "volumes")
        operator_make(site, "up")
        phase_times["swarm_make_up"] = round(time.monotonic() - started, 1)
        yield site
    finally:
        if site is not None:
            for service in ("hub", "nginx"):
                logs = on("manager", "service", "logs", "--tail=400", f"{CONTEXT['project_slug']}_{service}", check=False)
                print("\n".join(line for line in (logs.stdout + logs.stderr).splitlines() if "[ConfigProxy]" not in line)[-20000:])
        if os.environ.get("JH_SWARM_KEEP") != "1":  # keep the nodes to look at a failure
            remove_nodes()
        if site is not None and os.environ.get("JH_SWARM_KEEP") != "1":
            shutil.rmtree(site.path, ignore_errors=True)


@pytest.fixture(scope="module")
def alice(site):
    return site.login("alice")


def test_three_nodes_joined_with_real_tokens(site):
    nodes = [json.loads(line) for line in on("manager", "node", "ls", "--format", "{{json .}}").stdout.splitlines()]
    assert sorted(node["Hostname"] for node in nodes) == sorted(node_name(node) for node in NODES)
    assert all(node["Status"] == "Ready" and node["Availability"] == "Active" for node in nodes), nodes
    assert [node["Hostname"] for node in nodes if node["ManagerStatus"]] == [node_name("manager")]


def test_hub_and_nginx_run_on_the_manager(site):
    for service in ("hub", "nginx"):
        assert task_node(f"{CONTEXT['project_slug']}_{service}") == node_name("manager")
    network = json.loads(on("manager", "network", "inspect", NETWORK).stdout)[0]
    assert network["Driver"] == "overlay" and network["Attachable"] is True


def test_secrets_reach_the_hub_as_docker_secrets_only(site):
    spec = json.loads(on("manager", "service", "inspect", f"{CONTEXT['project_slug']}_hub").stdout)[0]["Spec"]
    container = spec["TaskTemplate"]["ContainerSpec"]
    environment = "\n".join(container["Env"])
    for key in ("CONFIGPROXY_AUTH_TOKEN", "STATUS_API_TOKEN", "TRIAL_PASSWORD", "TRIAL_ADMIN_PASSWORD"):
        assert site.env[key] not in environment, f"{key}'s value is in the service's environment"
        assert f"{key}_FILE=/run/secrets/{key.lower()}" in environment
    assert {secret["File"]["Name"] for secret in container["Secrets"]} >= {"configproxy_auth_token", "trial_password"}


def test_core_scenario_through_nginx(site, alice, phase_times):
    """Login, spawn, kernel, terminal; the server restarts on the node holding the volume, with the file."""
    started = time.monotonic()
    start_server(alice, "alice")
    phase_times["swarm_first_spawn"] = round(time.monotonic() - started, 1)
    first_node = server_node("alice")
    assert first_node in (node_name("worker1"), node_name("worker2")), first_node
    assert "swarm-kernel" in execute(alice, "alice", "open('/home/jovyan/work/note.txt', 'w').write('kept'); print('swarm-kernel')")
    assert "jovyan" in terminal_output(alice, "alice", "whoami", "jovyan")
    spec = json.loads(on("manager", "service", "inspect", "jupyter-alice").stdout)[0]["Spec"]["TaskTemplate"]
    assert spec["Resources"]["Limits"] == {"MemoryBytes": 512 * 1024**2, "NanoCPUs": 500_000_000}
    stop = alice.delete(f"{site.url}/hub/api/users/alice/server", headers=xsrf_headers(alice), timeout=60)
    assert stop.status_code in (202, 204), stop.text
    wait_until(lambda: not user_model(alice, "alice")["servers"], 120, "alice's server to stop")
    start_server(alice, "alice")
    assert server_node("alice") == first_node
    spec = json.loads(on("manager", "service", "inspect", "jupyter-alice").stdout)[0]["Spec"]["TaskTemplate"]
    assert spec["Placement"]["Constraints"] == ["node.role==worker", f"node.hostname=={first_node}"]
    got = alice.get(f"{site.url}/user/alice/api/contents/note.txt", timeout=60)
    assert got.status_code == 200 and got.json()["content"] == "kept", got.text[:300]


def test_servers_land_on_several_nodes(site, alice):
    sessions = {name: site.login(name) for name in USERS if name != "alice"}
    for name, session in sessions.items():
        start_server(session, name)
    placed = {name: server_node(name) for name in USERS}
    print("user servers placed on:", placed)
    assert all(placed.values()), placed
    assert len(set(placed.values())) >= 2, placed


def test_make_restart_keeps_user_servers(site):
    """The hub restarts (a new task on the manager) and finds the running servers again."""
    def hub_task():
        return on("manager", "service", "ps", "-q", "--filter", "desired-state=running", f"{CONTEXT['project_slug']}_hub").stdout.split()

    before = hub_task()
    operator_make(site, "restart")
    after = hub_task()
    assert len(before) == len(after) == 1 and after != before, (before, after)
    wait_until(lambda: site.session().get(f"{site.url}/hub/api/health", timeout=30).status_code == 200, 120, "the hub after restart")
    session = site.login("bob")
    open_server(session, "bob")
    assert "still-here" in execute(session, "bob", "print('still-here')")


def test_draining_a_node_stops_its_users_and_says_where_their_files_are(site, alice):
    node = server_node("alice")
    others = {name: server_node(name) for name in USERS if name != "alice"}
    elsewhere = [name for name, where in others.items() if where != node]
    assert elsewhere, f"every server is on {node}"
    on("manager", "node", "update", "--availability", "drain", node)
    try:
        # Swarm stops alice's task and keeps its replacement pending (it may run only there);
        # the hub's poll sees that and marks the server stopped.
        wait_until(lambda: not user_model(alice, "alice")["servers"], 150, "the hub to notice alice's server stopped")
        refused = alice.post(f"{site.url}/hub/api/users/alice/server", headers=xsrf_headers(alice), timeout=120)
        assert refused.status_code >= 400, refused.status_code
        message = refused.json().get("message", "")
        print("alice is told:", message)
        assert f"Your files are on the Swarm node {node}, which is drained" in message, message
        for name in elsewhere:
            session = site.login(name)
            open_server(session, name)
            assert f"on-{name}" in execute(session, name, f"print('on-{name}')")
    finally:
        on("manager", "node", "update", "--availability", "active", node)
    start_server(alice, "alice")
    assert server_node("alice") == node
    got = alice.get(f"{site.url}/user/alice/api/contents/note.txt", timeout=60)
    assert got.status_code == 200 and got.json()["content"] == "kept"


def test_make_ps_lists_servers_with_their_nodes(site):
    shown = operator_make(site, "ps").stdout
    for name in USERS:
        assert f"jupyter-{name}" in shown
    assert node_name("manager") in shown


def test_make_logs_follows_hub_and_nginx(site):
    result = subprocess.run(["timeout", "10", "make", "-s", "-C", str(site.path), "logs"], capture_output=True, text=True,
                            env={**os.environ, "DOCKER_HOST": node_host("manager")})
    shown = result.stdout + result.stderr
    slug = CONTEXT["project_slug"]
    assert f"{slug}_hub.1." in shown and f"{slug}_nginx.1." in shown, shown[-2000:]


def test_make_up_outside_a_swarm_says_what_to_run_in_one_line(site):
    """The host's own engine is in no swarm: `make up` stops at the check and changes nothing."""
    if run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"]).stdout.strip() != "inactive":
        pytest.skip("the host's engine is in a swarm here; `make up` must not deploy onto it")
    result = run(["make", "-s", "-C", str(site.path), "up"], env={"DOCKER_HOST": ""}, check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "docker swarm init --advertise-addr" in errors[0], result.stderr


def test_make_up_refuses_a_worker_in_one_line(site):
    result = run(["make", "-s", "-C", str(site.path), "up"], env={"DOCKER_HOST": node_host("worker1")}, check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Swarm worker" in errors[0], result.stderr


def test_make_down_removes_the_stack_and_keeps_user_servers_and_volumes(site):
    operator_make(site, "down")
    slug = CONTEXT["project_slug"]
    wait_until(lambda: not on("manager", "service", "ls", "-q", "--filter", f"name={slug}_").stdout.strip(),
               60, "the stack's services to go")
    assert on("manager", "service", "ls", "-q", "--filter", "name=jupyter-alice").stdout.strip()
    assert VOLUME in on("manager", "volume", "ls", "-q").stdout.split()
