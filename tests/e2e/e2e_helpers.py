"""End-to-end helpers and fixtures: a generated deployment running on a real Docker engine."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cookiecutter.main import cookiecutter

TESTS_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR / "images"))
sys.path.insert(0, str(TESTS_DIR))
from template_helpers import env_secrets  # noqa: E402  (needs the path above)

ENV_SECRETS = env_secrets()

HOSTNAME = "hub.e2e.test"
HTTP_PORT, HTTPS_PORT = 18080, 18443
NETWORK, VOLUME = "jh-e2e-network", "jh-e2e-data"
PUBLIC_URL = f"https://{HOSTNAME}:{HTTPS_PORT}"
# Volumes of the users the suite creates (DockerSpawner escapes '-' as '-2d', '_' as '-5f').
TEST_USER_VOLUMES = tuple(f"{prefix}-{name}" for prefix in ("jupyterhub-user", "gh-user", "proxy-user")
                          for name in ("alice", "bob", "admin", "carol", "smoke-5ftest", "load-2d"))

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    # Test hostnames map to loopback, as DNS would map them to the Docker host.
    if isinstance(host, str) and host.endswith(".e2e.test"):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo


def run(command, cwd=None, timeout=900, check=True, env=None):
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, **(env or {})))
    print(f"$ {' '.join(map(str, command))}  ({time.monotonic() - started:.1f} s, exit {result.returncode})")
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


class Deployment:
    def __init__(self, path):
        self.path = path
        self.env = ENV_SECRETS.parse_env((path / ".env").read_text())
        self.cafile = str(path / "nginx" / "test-ca" / "ca.crt")
        self.url = f"https://{self.env['PUBLIC_HOSTNAME']}:{self.env['HTTPS_PORT']}"

    def make(self, *targets, timeout=1200, check=True):
        return run(["make", "-C", str(self.path), *targets], timeout=timeout, check=check)

    def compose(self, *args, check=True, timeout=300):
        return run(["docker", "compose", "--project-directory", str(self.path), *args], timeout=timeout, check=check)

    def logs(self):
        return self.compose("logs", "--no-color", "--tail=150", check=False).stdout

    def session(self):
        return new_session(self.cafile)

    def login(self, username, password=None):
        """Log in through the real login form; returns a session holding the hub cookies."""
        session = self.session()
        page = session.get(f"{self.url}/hub/login", timeout=30)
        page.raise_for_status()
        response = session.post(
            f"{self.url}/hub/login?next=",
            data={"username": username, "password": password or self.env["TRIAL_PASSWORD"],
                  "_xsrf": session.cookies.get("_xsrf", path="/hub/")},
            allow_redirects=False, timeout=30,
        )
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return session


def new_session(cafile):
    """A requests session trusting only the test CA; trust_env=False because requests
    would otherwise replace `verify` with $REQUESTS_CA_BUNDLE and honour proxy variables."""
    session = requests.Session()
    session.trust_env = False
    session.verify = cafile
    return session


def xsrf_headers(session):
    return {"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/"), "Referer": f"{PUBLIC_URL}/hub/home"}


def wait_until(condition, timeout, what, interval=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def docker_names(kind):
    result = run(["docker", kind, "ls", "--format", "{{.Name}}"])
    return set(result.stdout.split())


def remove_leftovers(network=NETWORK, volume=VOLUME):
    """Remove what an earlier run of the suite left: user containers, volumes, the network."""
    containers = run(["docker", "ps", "-aq", "--filter", f"network={network}"], check=False).stdout.split()
    if containers:
        run(["docker", "rm", "-f", *containers], check=False)
    for name in docker_names("volume"):
        if name == volume or name.startswith(TEST_USER_VOLUMES):
            run(["docker", "volume", "rm", "-f", name], check=False)
    run(["docker", "network", "rm", network], check=False)


@pytest.fixture(scope="session")
def phase_times():
    times = {}
    yield times
    report = TEMPLATE_DIR / "build" / "e2e-phases.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(times, indent=2))
    print("\nend-to-end phases (s):", json.dumps(times))


def launch(output, context):
    """Generate a deployment with `context` (post-gen hook on a live engine), then `make up`."""
    started = time.monotonic()
    os.environ.pop("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", None)
    try:
        project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(output), extra_context=context))
    finally:
        os.environ["JUPYTERHUB_TEMPLATE_SKIP_DOCKER"] = "1"
    assert context["docker_network"] in docker_names("network"), "the post-gen hook creates the network"
    assert context["data_volume"] in docker_names("volume"), "the post-gen hook creates the volume"
    site = Deployment(project)
    return site, started


def set_env(site, **values):
    """Change values in the deployment's .env, as an operator edits it."""
    path = site.path / ".env"
    text = path.read_text()
    unknown = set(values) - set(ENV_SECRETS.parse_env(text))
    assert not unknown, f"not in .env: {unknown}"
    ENV_SECRETS.write_private(path, ENV_SECRETS.set_values(text, values))
    site.env.update(values)


def bring_up(site, phase_times, prefix, started):
    site.make("network", "volumes", "certs")
    if phase_times is not None:
        phase_times[f"{prefix}generate"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    try:
        site.make("up")
    except AssertionError:
        print(site.logs())
        raise
    if phase_times is not None:
        phase_times[f"{prefix}make_up"] = round(time.monotonic() - started, 1)
    return site


def ensure_stand_ins(*notebook_flavors):
    from standins import ensure_images

    pins = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["_pins"]
    notebooks = [f"quay.io/jupyter/{flavor}:{pins['notebook_tag']}" for flavor in notebook_flavors]
    ensure_images([pins["hub_image"], *notebooks, pins["nginx_image"]])


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, phase_times):
    started = time.monotonic()
    ensure_stand_ins("base-notebook")
    phase_times["images"] = round(time.monotonic() - started, 1)
    remove_leftovers()
    site, started = launch(tmp_path_factory.mktemp("e2e"), {
        "project_name": "E2E Hub", "hostname": HOSTNAME, "authenticator": "local-trial",
        "admin_users": "admin", "allowed_users": "alice bob",
        "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1",
        "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT),
        "docker_network": NETWORK, "data_volume": VOLUME,
    })
    bring_up(site, phase_times, "", started)
    yield site
    print(site.logs())
    site.compose("down", check=False)
    remove_leftovers()
