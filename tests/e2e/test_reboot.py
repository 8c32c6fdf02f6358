"""A host reboot: the Docker engine stops and starts while users have servers running.

The site must come back by itself (restart policies, no operator command),
`make status` must tell the truth about the users' servers, every user can start
again, and no file is lost.  Restarting the engine stops every stack, so these
tests run after all others (the `engine_restart` marker, see conftest.py).
"""

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from e2e_helpers import NETWORK, PUBLIC_URL, open_server, run, server_headers, start_server, user_model, wait_until

ENGINE = Path(__file__).resolve().parent / "engine.sh"
pytestmark = pytest.mark.engine_restart


def running_user_containers():
    return set(run(["docker", "ps", "--filter", f"network={NETWORK}", "--filter", "name=jupyter-",
                    "--format", "{{.Names}}"]).stdout.split())


def write_file(session, name, content):
    response = session.put(f"{PUBLIC_URL}/user/{name}/api/contents/reboot.txt", headers=server_headers(session, name),
                           json={"type": "file", "format": "text", "content": content}, timeout=60)
    assert response.status_code in (200, 201), response.text


def test_the_site_survives_an_engine_restart(deployment, phase_times):
    contents = {}
    for name in ("alice", "bob"):
        session = deployment.login(name)
        if not (user_model(session, name)["servers"].get("") or {}).get("ready"):
            start_server(session, name)
        open_server(session, name)
        contents[name] = f"{name}-{uuid.uuid4().hex}"
        write_file(session, name, contents[name])
    assert {"jupyter-alice", "jupyter-bob"} <= running_user_containers()

    restart = subprocess.run(["bash", str(ENGINE), "restart"], capture_output=True, text=True, timeout=300)
    if restart.returncode == 3:
        pytest.skip("the Docker engine was not started by tests/e2e/engine.sh; it is not this suite's to restart")
    assert restart.returncode == 0, restart.stderr
    started = time.monotonic()

    # Back by itself: nobody runs make up.
    session = deployment.session()

    def healthy():
        try:
            return session.get(f"{PUBLIC_URL}/hub/api/health", timeout=10).status_code == 200
        except OSError:
            return False

    wait_until(healthy, 240, "the site answering through nginx after the engine restart", interval=2)
    phase_times["reboot_site_back"] = round(time.monotonic() - started, 1)

    # The truth about user servers: the engine does not restart them, and the hub says so.
    assert not running_user_containers() & {"jupyter-alice", "jupyter-bob"}
    for name in ("alice", "bob"):
        user = deployment.login(name)
        wait_until(lambda user=user, name=name: not (user_model(user, name)["servers"].get("") or {}).get("ready"),
                   120, f"the hub to notice {name}'s server is gone")
    status = deployment.make("status")
    listed = re.search(r"^user servers: ([0-9]+) running or starting$", status.stdout, re.MULTILINE)
    assert listed and int(listed.group(1)) == len(running_user_containers()), status.stdout
    assert not re.search(r"^\s+(alice|bob)\s", status.stdout, re.MULTILINE), status.stdout

    # Everyone starts again and finds their files.
    for name in ("alice", "bob"):
        user = deployment.login(name)
        start_server(user, name)
        got = user.get(f"{PUBLIC_URL}/user/{name}/api/contents/reboot.txt", timeout=60)
        assert got.status_code == 200 and got.json()["content"] == contents[name], (name, got.status_code)
    assert {"jupyter-alice", "jupyter-bob"} <= running_user_containers()
