"""Twenty users start their servers at the same moment; all must come up and answer.

A class at 9:00 on a small host: with stock 30 s spawner timeouts, 2 of 20
servers failed on this 2-core machine.  The hub's spawn queue (hub/spawn_queue.py)
admits starts in order, so users admitted first must be ready first.  Writes the spawn times to
build/e2e-load.json (`make bench` prints them).
"""

import json
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from e2e_helpers import PUBLIC_URL, TEMPLATE_DIR, docker_names, new_session, run, wait_until, xsrf_headers

USERS = [f"load-{number:02d}" for number in range(20)]


def api(token, cafile):
    session = new_session(cafile)
    session.headers["Authorization"] = f"token {token}"
    return session


def progress_messages(hub, name, count=3):
    """The first `count` messages of a pending spawn's progress stream (what the spawn page shows)."""
    messages = []
    with hub.get(f"{PUBLIC_URL}/hub/api/users/{name}/server/progress", stream=True, timeout=30) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                messages.append(json.loads(line[len("data:"):]).get("message", ""))
                if len(messages) >= count:
                    break
    return messages


def place_in_line(hub):
    """A waiting user's spawn page tells them their place: the first queued user found."""
    for name in reversed(USERS):
        message = next((text for text in progress_messages(hub, name) if text.startswith("Waiting to start:")), None)
        if message:
            return message
    raise AssertionError("no waiting user was shown a place in the queue")


def admission_order(deployment):
    """The order the hub's spawn queue admitted the load users, from its log lines."""
    logs = deployment.compose("logs", "--no-color", "hub").stdout
    order = re.findall(r"spawn queue: (load-[0-9]+) admitted after", logs)
    assert sorted(order) == sorted(USERS), f"every start passes the queue once: {order}"
    return order


def assert_ready_in_admission_order(order, ready_at):
    """Users admitted first are ready first: the ranks agree (Spearman's rho), and everyone
    in the first quarter admitted is ready before anyone in the last quarter."""
    ready_rank = {name: rank for rank, name in enumerate(sorted(order, key=ready_at.get))}
    n = len(order)
    rho = 1 - 6 * sum((rank - ready_rank[name]) ** 2 for rank, name in enumerate(order)) / (n * (n * n - 1))
    quarter = n // 4
    assert max(ready_at[name] for name in order[:quarter]) < min(ready_at[name] for name in order[-quarter:]), \
        "the first admitted are ready before the last admitted"
    assert rho >= 0.7, f"readiness follows admission order only weakly (rho {rho:.2f})"


def test_twenty_simultaneous_spawns(deployment, phase_times):
    admin = deployment.login("admin", deployment.env["TRIAL_ADMIN_PASSWORD"])
    # A short-lived token of the admin, limited to managing users and servers.
    created = admin.post(f"{PUBLIC_URL}/hub/api/users/admin/tokens", headers=xsrf_headers(admin), timeout=30,
                         json={"note": "load test", "expires_in": 1800, "scopes": ["admin:users", "admin:servers", "access:servers"]})
    assert created.status_code == 201, created.text
    hub = api(created.json()["token"], deployment.cafile)
    response = hub.post(f"{PUBLIC_URL}/hub/api/users", json={"usernames": USERS}, timeout=60)
    assert response.status_code in (201, 409), response.text

    requested = {}

    def start(name):
        requested[name] = time.monotonic()
        return hub.post(f"{PUBLIC_URL}/hub/api/users/{name}/server", timeout=120).status_code

    with ThreadPoolExecutor(max_workers=len(USERS)) as pool:
        statuses = list(pool.map(start, USERS))
    assert all(status in (201, 202) for status in statuses), statuses

    waiting_message = place_in_line(hub)
    ready_at = {}
    figures_by_admission = []

    def all_ready():
        users = {user["name"]: user for user in hub.get(f"{PUBLIC_URL}/hub/api/users?state=active", timeout=60).json()}
        for name in USERS:
            server = (users.get(name) or {}).get("servers", {}).get("")
            if server and server.get("ready") and name not in ready_at:
                ready_at[name] = time.monotonic()
        # Every start was accepted above, so a user missing from the active list has failed.
        failed = [name for name in USERS if name not in users and name not in ready_at]
        assert not failed, f"servers gave up: {failed}"
        return len(ready_at) == len(USERS)

    try:
        wait_until(all_ready, 600, "20 servers", interval=2)
        for name in USERS:
            status = hub.get(f"{PUBLIC_URL}/user/{name}/api/kernelspecs", timeout=60)
            assert status.status_code == 200 and "python3" in status.json()["kernelspecs"], (name, status.status_code)
        order = admission_order(deployment)
        figures_by_admission.extend(round(ready_at[name] - requested[name], 1) for name in order)
        assert_ready_in_admission_order(order, ready_at)
        assert re.fullmatch(r"Waiting to start: [0-9]+ users? ahead of you", waiting_message), waiting_message
    finally:
        spawn_times = sorted(ready_at[name] - requested[name] for name in ready_at)
        figures = {
            "users": len(USERS), "ready": len(ready_at),
            "spawn_p50_s": round(statistics.median(spawn_times), 1) if spawn_times else None,
            "spawn_max_s": round(spawn_times[-1], 1) if spawn_times else None,
            "ready_s_in_admission_order": figures_by_admission,
        }
        (TEMPLATE_DIR / "build").mkdir(exist_ok=True)
        (TEMPLATE_DIR / "build" / "e2e-load.json").write_text(json.dumps(figures, indent=2))
        print("load:", json.dumps(figures))
        phase_times["load_20_spawns"] = figures
        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda name: hub.delete(f"{PUBLIC_URL}/hub/api/users/{name}/server", timeout=120), USERS))
        wait_until(lambda: not [name for name in run(["docker", "ps", "--format", "{{.Names}}"]).stdout.split()
                                if name.startswith("jupyter-load")], 300, "load servers to stop", interval=3)
        for name in USERS:
            hub.delete(f"{PUBLIC_URL}/hub/api/users/{name}", timeout=60)
        for volume in docker_names("volume"):
            if volume.startswith("jupyterhub-user-load"):
                run(["docker", "volume", "rm", volume], check=False)
