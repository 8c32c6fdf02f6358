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
from template_helpers import env_secrets, pins  # noqa: E402  (needs the path above)

ENV_SECRETS = env_secrets()

HOSTNAME = "hub.e2e.test"
HTTP_PORT, HTTPS_PORT = 18080, 18443
NETWORK, VOLUME = "jh-e2e-network", "jh-e2e-data"
PUBLIC_URL = f"https://{HOSTNAME}:{HTTPS_PORT}"

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


def remove_leftovers(network, volume, user_volume_prefix):
    """Remove what an earlier run left: containers on the network, the data volume,
    this site's user volumes (named <prefix>-<user>) and the network."""
    containers = run(["docker", "ps", "-aq", "--filter", f"network={network}"], check=False).stdout.split()
    if containers:
        run(["docker", "rm", "-f", *containers], check=False)
    for name in docker_names("volume"):
        if name == volume or name.startswith(f"{user_volume_prefix}-"):
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


def generate(output, context):
    """Generate a deployment as a user does, with the post-gen hook on the live engine."""
    os.environ.pop("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", None)
    try:
        project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(output), extra_context=context))
    finally:
        os.environ["JUPYTERHUB_TEMPLATE_SKIP_DOCKER"] = "1"
    assert context["docker_network"] in docker_names("network"), "the post-gen hook creates the network"
    assert context["data_volume"] in docker_names("volume"), "the post-gen hook creates the volume"
    return Deployment(project)


def set_env(site, **values):
    """Change values in the deployment's .env, as an operator edits it."""
    path = site.path / ".env"
    text = path.read_text()
    unknown = set(values) - set(ENV_SECRETS.parse_env(text))
    assert not unknown, f"not in .env: {unknown}"
    ENV_SECRETS.write_private(path, ENV_SECRETS.set_values(text, values))
    site.env.update(values)


def ensure_stand_ins(*references):
    """The hub, base-notebook and nginx images every site uses, plus `references`."""
    from standins import ensure_images, notebook_ref

    versions = pins()
    ensure_images([versions["hub_image"], notebook_ref("base-notebook"), versions["nginx_image"], *references])


def site_lifecycle(tmp_path_factory, phase_times, name, context, env=None, images=(), before_up=None):
    """One deployment's whole life, for a fixture to `yield from`.

    Stand-in images, leftovers of an earlier run removed, generation (post-gen
    hook on the live engine), `env` written to .env, `before_up(site)`, then
    `make network volumes certs` and `make up`; after the tests: logs, `make
    down`, and every container, volume and network of the site removed.
    Phase times go to build/e2e-phases.json under `name`.
    """
    started = time.monotonic()
    ensure_stand_ins(*images)
    phase_times[f"{name}_images"] = round(time.monotonic() - started, 1)
    user_volume_prefix = (env or {}).get("USER_VOLUME_PREFIX", "jupyterhub-user")
    network, volume = context["docker_network"], context["data_volume"]
    remove_leftovers(network, volume, user_volume_prefix)
    started = time.monotonic()
    site = generate(tmp_path_factory.mktemp(f"e2e-{name}"), context)
    if env:
        set_env(site, **env)
    if before_up:
        before_up(site)
    site.make("network", "volumes", "certs")
    phase_times[f"{name}_generate"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    try:
        site.make("up")
    except AssertionError:
        print(site.logs())
        raise
    phase_times[f"{name}_make_up"] = round(time.monotonic() - started, 1)
    try:
        yield site
    finally:
        print(site.logs())
        site.compose("down", check=False)
        remove_leftovers(network, volume, user_volume_prefix)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, phase_times):
    """The core site: local-trial login, nginx container on HTTPS port 18443, shared by most tests."""
    yield from site_lifecycle(tmp_path_factory, phase_times, "core", {
        "project_name": "E2E Hub", "hostname": HOSTNAME, "authenticator": "local-trial",
        "admin_users": "admin", "allowed_users": "alice bob",
        "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1",
        "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT),
        "docker_network": NETWORK, "data_volume": VOLUME,
    })
