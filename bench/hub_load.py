"""What users of a generated deployment wait for, measured through nginx and TLS as they meet it.

Users log in through the login form, ask for their server the way JupyterHub's spawn page does
(POST, then the progress event stream until "ready"), and open it (the OAuth handshake).
"""

import contextlib
import json
import socket
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
import websocket

import cpu_profile
from e2e_helpers import new_session, open_server, server_headers, xsrf_headers
from limits import docker, summary

READY_TIMEOUT = 900


class Hub:
    """The bench site seen from outside: an admin API session and user logins."""

    def __init__(self, site):
        self.site = site
        admin = site.login("admin", site.env["TRIAL_ADMIN_PASSWORD"])
        created = admin.post(f"{site.url}/hub/api/users/admin/tokens", headers=xsrf_headers(admin), timeout=60, json={
            "note": "make bench", "expires_in": 7200,
            "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "read:users"]})
        created.raise_for_status()
        self.token = created.json()["token"]
        self.api = site.session()
        self.api.headers["Authorization"] = f"token {self.token}"

    def create_users(self, names):
        response = self.api.post(f"{self.site.url}/hub/api/users", json={"usernames": list(names)}, timeout=120)
        assert response.status_code in (201, 409), response.text

    def remove_users(self, names):
        """Stop the servers, delete the users and their volumes: the next storm starts as new users."""
        def stop(name):
            self.api.delete(f"{self.site.url}/hub/api/users/{name}/server", timeout=300)

        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(stop, names))
        container_prefix = self.site.env["USER_CONTAINER_PREFIX"]
        prefixes = tuple(f"{container_prefix}-{name}" for name in names)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            running = [line for line in docker("ps", "-a", "--format", "{{.Names}}").split() if line.startswith(prefixes)]
            if not running:
                break
            time.sleep(2)
        for name in names:
            self.api.delete(f"{self.site.url}/hub/api/users/{name}", timeout=120)
        volume_prefix = self.site.env["USER_VOLUME_PREFIX"]
        volumes = [volume for volume in docker("volume", "ls", "-q").split()
                   if volume in {f"{volume_prefix}-{name}" for name in names}]
        if volumes:
            docker("volume", "rm", "-f", *volumes, check=False)

    def user_token(self, name):
        """A token that may use `name`'s server (for the WebSocket and static-asset comparisons)."""
        created = self.api.post(f"{self.site.url}/hub/api/users/{name}/tokens", timeout=60,
                                json={"note": "make bench", "expires_in": 3600, "scopes": [f"access:servers!user={name}"]})
        created.raise_for_status()
        return created.json()["token"]


def wait_ready(session, name, started, deadline):
    """Follow the spawn progress stream as the spawn page does; seconds from `started` to "ready"."""
    while time.monotonic() < deadline:
        with session.get(f"{session.url}/hub/api/users/{name}/server/progress", stream=True,
                         headers=xsrf_headers(session), timeout=(30, READY_TIMEOUT)) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data:"):
                    continue
                event = json.loads(line[len("data:"):])
                if event.get("ready"):
                    return time.monotonic() - started
                if event.get("failed"):
                    return None
        time.sleep(0.5)
    return None


def login_and_spawn(site, name, started, deadline):
    """One user: log in, ask for the server, wait for ready; (seconds to ready or None, session)."""
    session = site.login(name)
    response = session.post(f"{site.url}/hub/api/users/{name}/server", headers=xsrf_headers(session), timeout=300)
    if response.status_code not in (201, 202):
        return None, session
    return wait_ready(session, name, started, deadline), session


class ApiProbe(threading.Thread):
    """Asks the hub, every half second, for a user's status and that user's spawn page; keeps the
    slowest answer (a request that fails counts as its whole timeout)."""

    def __init__(self, hub, name):
        super().__init__(daemon=True)
        self.hub, self.name = hub, name
        self.latencies = []
        self.stopping = threading.Event()

    def run(self):
        url = self.hub.site.url
        while not self.stopping.is_set():
            for path in (f"/hub/api/users/{self.name}", f"/hub/spawn-pending/{self.name}"):
                asked = time.monotonic()
                # A timeout or a reset counts as the time it took: that is what a user sees.
                with contextlib.suppress(requests.RequestException):
                    self.hub.api.get(url + path, timeout=30, allow_redirects=False)
                self.latencies.append(time.monotonic() - asked)
            self.stopping.wait(0.5)

    def result(self):
        self.stopping.set()
        self.join(60)
        slow = sorted(self.latencies)
        return {"api_max": round(slow[-1], 2) if slow else None, "api_over_2s": sum(value > 2 for value in slow),
                "api_requests": len(slow)}


def storm(hub, count, tag, footprint=None):
    """`count` new users log in and start their servers at the same moment."""
    # No "-" in names: DockerSpawner escapes it in container names.
    names = [f"{tag}u{index:02d}" for index in range(count)]
    hub.create_users(names)
    probe = ApiProbe(hub, names[-1])
    site_containers = {service: hub.site.compose("ps", "-q", "--no-trunc", service).stdout.strip() for service in ("hub", "nginx")}
    user_prefix = hub.site.env["USER_CONTAINER_PREFIX"]
    cpu_before = cpu_profile.snapshot(site_containers, user_prefix)
    started = time.monotonic()
    deadline = started + READY_TIMEOUT
    probe.start()
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            outcomes = list(pool.map(lambda name: login_and_spawn(hub.site, name, started, deadline), names))
        figures = summary([seconds for seconds, _ in outcomes], count)
        figures["cpu"] = cpu_profile.difference(cpu_before, cpu_profile.snapshot(site_containers, user_prefix),
                                                time.monotonic() - started)
        figures.update(probe.result())
        # Ready means the hub reached the server; count only servers that also open for their user.
        figures["ok"] = sum(1 for (seconds, session), name in zip(outcomes, names, strict=True)
                            if seconds is not None and opens(session, name))
        if footprint:
            figures["footprint"] = footprint()
        return figures
    finally:
        probe.stopping.set()
        hub.remove_users(names)


def opens(session, name):
    try:
        open_server(session, name)
        return True
    except (AssertionError, OSError):
        return False


def first_kernel(hub, name):
    """One new user: login → server ready → kernel → first execute_reply, through nginx and TLS."""
    hub.create_users([name])
    try:
        started = time.monotonic()
        ready, session = login_and_spawn(hub.site, name, started, started + READY_TIMEOUT)
        assert ready is not None, f"{name}'s server did not start"
        open_server(session, name)
        kernel = session.post(f"{session.url}/user/{name}/api/kernels", json={}, headers=server_headers(session, name), timeout=120)
        kernel.raise_for_status()
        channel = kernel_socket(session.url.replace("https://", "wss://"), name, kernel.json()["id"], cookies=session)
        execute_reply(channel, "1 + 1")
        total = time.monotonic() - started
        channel.close()
        return {"ready": round(ready, 2), "first_reply": round(total, 2)}
    finally:
        hub.remove_users([name])


def kernel_socket(base, name, kernel_id, cookies=None, token=None, cafile=None):
    headers = [f"Authorization: token {token}"] if token else []
    cookie = "; ".join(f"{item.name}={item.value}" for item in cookies.cookies) if cookies else None
    origin = cookies.url if cookies else None
    return websocket.create_connection(
        f"{base}/user/{name}/api/kernels/{kernel_id}/channels", header=headers, cookie=cookie, origin=origin,
        suppress_origin=origin is None, sslopt={"ca_certs": cafile or (cookies.verify if cookies else None)}, timeout=120)


def execute_reply(channel, code):
    """Send one execute_request; seconds until its execute_reply."""
    msg_id = uuid.uuid4().hex
    sent = time.monotonic()
    channel.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench", "session": uuid.uuid4().hex,
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
    }))
    while True:
        message = json.loads(channel.recv())
        if message.get("msg_type") == "execute_reply" and message.get("parent_header", {}).get("msg_id") == msg_id:
            return time.monotonic() - sent


def hub_address(site):
    """The hub container's address on the user network: its proxy listens there on port 8000."""
    container = site.compose("ps", "-q", "hub").stdout.strip()
    network = site.env["DOCKER_NETWORK"]
    return docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}', container)


def through_nginx_vs_direct(hub, name, rounds):
    """WebSocket execute round trips and a static asset, through nginx+TLS and straight to the hub's
    proxy on the private network; medians in seconds."""
    hub.create_users([name])
    try:
        started = time.monotonic()
        ready, session = login_and_spawn(hub.site, name, started, started + READY_TIMEOUT)
        assert ready is not None
        token = hub.user_token(name)
        kernel = hub.api.post(f"{hub.site.url}/user/{name}/api/kernels", json={}, timeout=120,
                              headers={"Authorization": f"token {token}"})
        kernel.raise_for_status()
        kernel_id = kernel.json()["id"]
        hostname = hub.site.env["PUBLIC_HOSTNAME"]
        routes = (
            # As clients on the network reach it: the host forwards port 443 to nginx in the kernel.
            ("nginx_container", f"https://{hostname}", hub.site.cafile, nginx_address(hub.site)),
            # From the host itself, through Docker's userland proxy of the published port.
            ("nginx", hub.site.url, hub.site.cafile, None),
            ("direct", f"http://{hub_address(hub.site)}:8000", None, None),
        )
        figures = {}
        for route, base, cafile, address in routes:
            with resolving(hostname, address):
                figures.update(round_trips(route, base, cafile, name, kernel_id, token, rounds))
        return figures
    finally:
        hub.remove_users([name])


def round_trips(route, base, cafile, name, kernel_id, token, rounds):
    channel = kernel_socket(base.replace("http", "ws", 1), name, kernel_id, token=token, cafile=cafile)
    for _ in range(5):  # warm up: the kernel's first executions are slower
        execute_reply(channel, "pass")
    figures = {f"ws_rtt_{route}": statistics.median(execute_reply(channel, "pass") for _ in range(rounds))}
    channel.close()
    static = new_session(cafile, base)
    asset = static_asset(static)
    static.get(base + asset, timeout=30).raise_for_status()
    times = []
    for _ in range(rounds):
        asked = time.monotonic()
        static.get(base + asset, timeout=30).raise_for_status()
        times.append(time.monotonic() - asked)
    figures[f"static_{route}"] = statistics.median(times)
    return figures


@contextlib.contextmanager
def resolving(hostname, address):
    """`hostname` resolves to `address` inside the block (None: unchanged)."""
    previous = socket.getaddrinfo
    if address:
        socket.getaddrinfo = lambda host, *args, **kwargs: previous(address if host == hostname else host, *args, **kwargs)
    try:
        yield
    finally:
        socket.getaddrinfo = previous


def nginx_address(site):
    container = site.compose("ps", "-q", "nginx").stdout.strip()
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container).split()[0]


def static_asset(session):
    """The largest script the login page loads (what every visitor fetches)."""
    import re

    page = session.get(f"{session.url}/hub/login", timeout=30).text
    scripts = re.findall(r'src="(/hub/static/[^"?]+\.js)[^"]*"', page)
    assert scripts, "the login page loads no script from /hub/static/"
    sizes = {path: len(session.get(session.url + path, timeout=30).content) for path in set(scripts)}
    return max(sizes, key=sizes.get)


def resident_mb(container, match=None):
    """Resident memory (MB) of a container's processes, or of those whose command contains `match`."""
    table = docker("top", container, "-eo", "pid,rss,args").splitlines()[1:]
    kilobytes = 0
    for line in table:
        _, rss, args = line.split(None, 2)
        if match is None or match(args):
            kilobytes += int(rss)
    return round(kilobytes / 1024, 1)


def site_footprint(site):
    hub_container = site.compose("ps", "-q", "hub").stdout.strip()
    nginx_container = site.compose("ps", "-q", "nginx").stdout.strip()
    return {
        "hub": resident_mb(hub_container, lambda args: "configurable-http-proxy" not in args),
        "proxy": resident_mb(hub_container, lambda args: "configurable-http-proxy" in args),
        "nginx": resident_mb(nginx_container),
    }


def user_footprint(hub, name, settle=10):
    """A new user's server at idle (no kernel), `settle` seconds after it answers."""
    hub.create_users([name])
    try:
        started = time.monotonic()
        ready, _ = login_and_spawn(hub.site, name, started, started + READY_TIMEOUT)
        assert ready is not None
        time.sleep(settle)
        return resident_mb(f"{hub.site.env['USER_CONTAINER_PREFIX']}-{name}")
    finally:
        hub.remove_users([name])
