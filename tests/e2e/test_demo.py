"""`make demo` as a newcomer runs it: one command to a working hub on localhost, one to remove it.

Runs the template repository's own Makefile with the demo's names and ports
moved out of the way of other stacks (every Docker name starts with jh-demo-).
"""

import re
import time
from pathlib import Path

import pytest

from e2e_helpers import ENV_SECRETS, TEMPLATE_DIR, docker_names, execute, new_session, run, start_server

DEMO_NAME = "jh-demo"
HTTPS_PORT = "43443"
URL = f"https://localhost:{HTTPS_PORT}"


def make(*arguments, check=True, timeout=1800):
    # The tests already run inside the venv: never rebuild it (-o: treat it as up to date).
    return run(["make", "-C", str(TEMPLATE_DIR), "-o", ".venv/.installed", *arguments], check=check, timeout=timeout)


def leftovers():
    """Every container, volume, network and image of this machine whose name starts with the demo's."""
    names = set()
    for kind in ("volume", "network"):
        names |= docker_names(kind)
    names |= set(run(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout.split())
    names |= set(run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split())
    return sorted(name for name in names if name.startswith(f"{DEMO_NAME}-") or name.startswith(f"{DEMO_NAME}_"))


@pytest.fixture(scope="module")
def demo_args(tmp_path_factory):
    return [f"DEMO_DIR={tmp_path_factory.mktemp('demo')}", f"DEMO_NAME={DEMO_NAME}",
            "DEMO_HTTP_PORT=43080", f"DEMO_HTTPS_PORT={HTTPS_PORT}"]


@pytest.fixture(scope="module")
def demo(demo_args, phase_times):
    """`make demo`'s output; `make demo-down` afterwards whatever happened."""
    make("demo-down", *demo_args, check=False)  # what an interrupted earlier run left
    started = time.monotonic()
    try:
        yield make("demo", *demo_args).stdout
    finally:
        phase_times["demo_make_demo"] = round(time.monotonic() - started, 1)
        make("demo-down", *demo_args, check=False)


def test_a_bad_port_stops_the_demo_before_anything_is_made(tmp_path):
    result = make("demo", f"DEMO_DIR={tmp_path}", f"DEMO_NAME={DEMO_NAME}-bad", "DEMO_HTTPS_PORT=99999", check=False)
    assert result.returncode != 0
    assert "https_port = '99999': a port number from 1 to 65535" in result.stdout + result.stderr
    assert not any(tmp_path.iterdir()), "nothing generated"
    assert not [name for name in leftovers() if name.startswith(f"{DEMO_NAME}-bad")]


def test_the_printed_credentials_log_in_over_https(demo):
    assert f"demo: open {URL} " in demo
    assert "demo: users: admin (admin), alice, bob\n" in demo
    env_path = re.search(r"^demo: passwords: TRIAL_PASSWORD \(users\) and TRIAL_ADMIN_PASSWORD \(admins\) in (\S+/\.env)$",
                         demo, re.MULTILINE).group(1)
    ca_path = re.search(r"the local CA (\S+/ca\.crt):", demo).group(1)
    env = ENV_SECRETS.parse_env(Path(env_path).read_text())
    assert env["TRIAL_PASSWORD"] not in demo and env["TRIAL_ADMIN_PASSWORD"] not in demo, "passwords are never printed"

    for user, password in (("alice", env["TRIAL_PASSWORD"]), ("admin", env["TRIAL_ADMIN_PASSWORD"])):
        session = new_session(ca_path, URL)
        session.get(f"{URL}/hub/login", timeout=30).raise_for_status()
        response = session.post(f"{URL}/hub/login?next=", allow_redirects=False, timeout=30,
                                data={"username": user, "password": password, "_xsrf": session.cookies.get("_xsrf", path="/hub/")})
        assert response.status_code == 302, (user, response.status_code)
        if user == "alice":  # her container and volume are for demo-down to remove
            start_server(session, "alice")
            assert execute(session, "alice", "print(6*7)").strip() == "42"
    assert f"{DEMO_NAME}-alice" in run(["docker", "ps", "--format", "{{.Names}}"]).stdout.split()
    assert f"{DEMO_NAME}-user-alice" in docker_names("volume")


def test_demo_down_leaves_nothing_behind(demo, demo_args):
    result = make("demo-down", *demo_args)
    assert "demo-down: removed" in result.stdout
    assert leftovers() == []
    demo_dir = demo_args[0].split("=", 1)[1]
    assert not (TEMPLATE_DIR / demo_dir).exists()
