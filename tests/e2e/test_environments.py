"""Environment choice at spawn, shared folders and GPU device requests on a live deployment.

One site: images `Base` (the pinned base-notebook) and `Marked` (a tiny image
derived from it, so the two differ), sizes `small` and `large`, a read-only
host folder for everyone and a read-write volume for the `physics` group
(alice and bob, from `@physics` in the userlist; carol is in no group).
The tests run in file order and share the site.
"""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from e2e_helpers import pins, run, site_lifecycle, wait_until, xsrf_headers

HERE = Path(__file__).resolve().parent
TAG = pins()["notebook_tag"]
BASE_IMAGE = f"quay.io/jupyter/base-notebook:{TAG}"
MARKED_IMAGE = f"registry.env.e2e.test/lab/marked-notebook:{TAG}"
GROUP_VOLUME = "jh-e2e-env-group-physics"
WORK = "/home/jovyan/work"
SIZES = {"small": (512 * 1024**2, 50_000), "large": (768 * 1024**2, 100_000)}  # bytes, CPU quota per 100 ms
MARKED_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
USER root
RUN echo marked > /etc/notebook-flavor
USER 1000
"""


def build_marked_image():
    with tempfile.TemporaryDirectory(prefix="jh-e2e-env-image-") as context:
        (Path(context) / "Dockerfile").write_text(MARKED_DOCKERFILE)
        run(["docker", "build", "-q", "-t", MARKED_IMAGE, context], env={"DOCKER_BUILDKIT": "0"})


@pytest.fixture(scope="module")
def env_site(tmp_path_factory, phase_times):
    shared = Path(tempfile.mkdtemp(prefix="jh-e2e-env-shared-", dir="/tmp"))
    shared.chmod(0o755)
    (shared / "readme.txt").write_text("shared data\n")
    (shared / "readme.txt").chmod(0o644)
    run(["docker", "volume", "rm", "-f", GROUP_VOLUME], check=False)

    def before_up(site):
        build_marked_image()
        with (site.path / "userlist").open("a") as handle:
            handle.write("alice @physics\nbob @physics\n")

    try:
        yield from site_lifecycle(tmp_path_factory, phase_times, "environments", {
            "project_name": "Env E2E", "hostname": "hub.env.e2e.test", "authenticator": "local-trial",
            "admin_users": "admin", "allowed_users": "carol",
            "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1",
            "http_port": "44080", "https_port": "44443",
            "docker_network": "jh-e2e-env-network", "data_volume": "jh-e2e-env-data",
        }, env={
            "USER_CONTAINER_PREFIX": "env", "USER_VOLUME_PREFIX": "env-user",
            "NOTEBOOK_IMAGES": f"Base={BASE_IMAGE},Marked={MARKED_IMAGE}",
            "NOTEBOOK_SIZES": "small=512M/0.5,large=768M/1",
            "SHARED_DATA": str(shared), "GROUP_FOLDERS": f"physics={GROUP_VOLUME}",
        }, before_up=before_up)
    finally:
        run(["docker", "volume", "rm", "-f", GROUP_VOLUME], check=False)
        run(["docker", "rmi", MARKED_IMAGE], check=False)
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module")
def sessions(env_site):
    return {name: env_site.login(name) for name in ("alice", "bob", "carol")}


def server_model(site, session, name):
    response = session.get(f"{site.url}/hub/api/users/{name}", timeout=30)
    response.raise_for_status()
    return response.json()["servers"].get("") or {}


def wait_ready(site, session, name):
    wait_until(lambda: server_model(site, session, name).get("ready"), 300, f"{name}'s server")
    page = session.get(f"{site.url}/user/{name}/lab", timeout=60)  # the server's OAuth handshake sets its cookie
    assert page.status_code == 200 and page.url.startswith(f"{site.url}/user/{name}/"), page.url


def start_with_api(site, session, name, options=None):
    return session.post(f"{site.url}/hub/api/users/{name}/server", json=options or {},
                        headers=xsrf_headers(session), timeout=60)


def inspect(container, template):
    return run(["docker", "inspect", "-f", template, container]).stdout.strip()


def in_container(container, *command, check=True):
    return run(["docker", "exec", container, *command], check=check)


def contents(site, session, name, path, method="GET", json=None):
    headers = {"X-XSRFToken": session.cookies.get("_xsrf", path=f"/user/{name}/") or "",
               "Referer": f"{site.url}/user/{name}/"}
    return session.request(method, f"{site.url}/user/{name}/api/contents/{path}", json=json, headers=headers, timeout=60)


def assert_limits(container, size):
    memory, quota = SIZES[size]
    assert int(inspect(container, "{{.HostConfig.Memory}}")) == memory
    assert int(inspect(container, "{{.HostConfig.CpuQuota}}")) == quota
    assert int(inspect(container, "{{.HostConfig.CpuPeriod}}")) == 100_000


def test_the_spawn_form_offers_the_listed_images_and_sizes(env_site, sessions):
    page = sessions["alice"].get(f"{env_site.url}/hub/spawn", timeout=30)
    assert page.status_code == 200
    assert re.findall(r'<select [^>]*name="(\w+)"', page.text) == ["image", "size"]
    assert re.findall(r'<option value="([^"]+)"', page.text) == ["Base", "Marked", "small", "large"]


def test_choosing_in_the_form_starts_that_image_with_those_limits(env_site, sessions):
    alice = sessions["alice"]
    response = alice.post(f"{env_site.url}/hub/spawn", data={
        "image": "Marked", "size": "large", "_xsrf": alice.cookies.get("_xsrf", path="/hub/"),
    }, headers={"Referer": f"{env_site.url}/hub/spawn"}, timeout=60)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    wait_ready(env_site, alice, "alice")
    assert inspect("env-alice", "{{.Config.Image}}") == MARKED_IMAGE
    assert_limits("env-alice", "large")
    assert in_container("env-alice", "cat", "/etc/notebook-flavor").stdout.strip() == "marked"


def test_values_not_on_the_list_are_refused_by_the_hub(env_site, sessions):
    bob = sessions["bob"]
    for options in ({"image": BASE_IMAGE}, {"image": "Marked", "size": "huge"}, {"size": "4G/4"}):
        response = start_with_api(env_site, bob, "bob", options)
        assert response.status_code == 400, (options, response.status_code, response.text)
        assert "is not offered" in response.json()["message"]
    form = bob.post(f"{env_site.url}/hub/spawn", data={
        "image": "registry.example.org/evil:1", "_xsrf": bob.cookies.get("_xsrf", path="/hub/"),
    }, headers={"Referer": f"{env_site.url}/hub/spawn"}, timeout=60)
    assert form.status_code == 400 and "is not offered" in form.text
    assert not server_model(env_site, bob, "bob")
    assert run(["docker", "inspect", "env-bob"], check=False).returncode != 0


def test_without_a_choice_the_first_image_and_size_start(env_site, sessions):
    response = start_with_api(env_site, sessions["bob"], "bob")
    assert response.status_code in (201, 202), response.text
    wait_ready(env_site, sessions["bob"], "bob")
    assert inspect("env-bob", "{{.Config.Image}}") == BASE_IMAGE
    assert_limits("env-bob", "small")


def test_shared_data_is_visible_and_read_only(env_site, sessions):
    listing = contents(env_site, sessions["alice"], "alice", "shared-data")
    assert listing.status_code == 200
    assert [item["name"] for item in listing.json()["content"]] == ["readme.txt"]
    assert in_container("env-alice", "cat", f"{WORK}/shared-data/readme.txt").stdout == "shared data\n"
    write = in_container("env-alice", "python3", "-c", f"open('{WORK}/shared-data/new.txt', 'w')", check=False)
    assert write.returncode != 0 and "[Errno 30] Read-only file system" in write.stderr
    saved = contents(env_site, sessions["alice"], "alice", "shared-data/new.txt", "PUT",
                     {"type": "file", "format": "text", "content": "x"})
    assert saved.status_code >= 400


def test_the_group_folder_is_shared_by_members_only(env_site, sessions):
    saved = contents(env_site, sessions["alice"], "alice", "groups/physics/notes.txt", "PUT",
                     {"type": "file", "format": "text", "content": "from alice"})
    assert saved.status_code in (200, 201), saved.text
    read = contents(env_site, sessions["bob"], "bob", "groups/physics/notes.txt")
    assert read.status_code == 200 and read.json()["content"] == "from alice"
    group = sessions["alice"].get(f"{env_site.url}/hub/api/groups/physics", timeout=30)
    assert group.status_code in (200, 403)  # users may not read groups; the mounts below are the proof
    carol = sessions["carol"]
    assert start_with_api(env_site, carol, "carol").status_code in (201, 202)
    wait_ready(env_site, carol, "carol")
    sources = inspect("env-carol", "{{range .Mounts}}{{if .Name}}{{.Name}}{{else}}{{.Source}}{{end}} {{end}}").split()
    assert GROUP_VOLUME not in sources and "env-user-carol" in sources and len(sources) == 2  # + the shared data
    assert GROUP_VOLUME in inspect("env-bob", "{{range .Mounts}}{{.Name}} {{end}}").split()
    assert contents(env_site, carol, "carol", "groups/physics/notes.txt").status_code == 404


def test_folders_survive_a_hub_restart_and_a_server_restart(env_site, sessions):
    env_site.make("restart")
    wait_until(lambda: env_site.session().get(f"{env_site.url}/hub/api/health", timeout=10).status_code == 200,
               180, "the hub after make restart")
    alice = env_site.login("alice")
    response = alice.delete(f"{env_site.url}/hub/api/users/alice/server", headers=xsrf_headers(alice), timeout=60)
    assert response.status_code in (202, 204), response.text
    wait_until(lambda: not server_model(env_site, alice, "alice"), 120, "alice's server to stop")
    assert start_with_api(env_site, alice, "alice").status_code in (201, 202)  # her last choice is reused
    wait_ready(env_site, alice, "alice")
    assert inspect("env-alice", "{{.Config.Image}}") == MARKED_IMAGE
    assert_limits("env-alice", "large")
    read = contents(env_site, alice, "alice", "groups/physics/notes.txt")
    assert read.status_code == 200 and read.json()["content"] == "from alice"
    assert in_container("env-alice", "cat", f"{WORK}/shared-data/readme.txt").stdout == "shared data\n"
    touch = in_container("env-alice", "touch", f"{WORK}/shared-data/again", check=False)
    assert touch.returncode != 0 and "Read-only file system" in touch.stderr


@pytest.mark.parametrize("gpus, count", [("all", -1), ("2", 2)])
def test_the_deployed_spawner_asks_the_engine_for_gpus(env_site, gpus, count):
    """No GPU here: the hub's own DockerSpawner creates (never starts) a container; the engine records the request."""
    run(["docker", "rm", "-f", "env-gpuprobe"], check=False)
    result = subprocess.run(
        ["docker", "compose", "--project-directory", str(env_site.path), "exec", "-T", "-e", f"USER_GPUS={gpus}",
         "hub", "python3", "-", "/srv/jupyterhub/jupyterhub_config.py", "gpuprobe"],
        input=(HERE / "spawner_create.py").read_text(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    container = result.stdout.split()[-1]
    try:
        assert inspect(container, "{{.Name}}") == "/env-gpuprobe"
        assert inspect(container, "{{json .HostConfig.DeviceRequests}}") == (
            f'[{{"Driver":"","Count":{count},"DeviceIDs":[],"Capabilities":[["gpu"]],"Options":{{}}}}]'
        )
        assert inspect(container, "{{.State.Status}}") == "created"
    finally:
        run(["docker", "rm", "-f", container], check=False)
