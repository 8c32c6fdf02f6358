"""Smoke-test the live deployment through its public URL, step by step.

    python3 scripts/smoke.py --url https://hub.example.org [--cafile CA] [--connect-to IP]

1. creates a 15-minute token for the `smoke-test` service inside the hub
   container (its role may manage only the `smoke_test` user);
2. creates that user, starts its server and waits until it is ready;
3. starts a kernel, runs `print(6 * 7)` over the kernel WebSocket and checks `42`;
4. stops the server and deletes the user.

Stdlib only, so it runs on any host with python3.  Never prints the token.
"""

import argparse
import base64
import http.client
import json
import os
import shlex
import socket
import ssl
import struct
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

SMOKE_USER = "smoke_test"
TOKEN_SCRIPT = """
import os, sys
from jupyterhub import orm
# The hub's own database: DATABASE_URL as docker-compose.yml passes it (SQLite or PostgreSQL).
db_url = os.environ.get("DATABASE_URL") or "sqlite:///" + os.environ.get("JUPYTERHUB_DATA_DIR", "/data") + "/jupyterhub.sqlite"
db = orm.new_session_factory(db_url)()
service = orm.Service.find(db, "smoke-test")
if service is None:
    sys.exit("the smoke-test service is unknown: is the hub running this deployment's config?")
print(service.new_api_token(expires_in=900, note="make smoke"))
db.commit()
"""


class SmokeError(RuntimeError):
    """A step failed; the message says which and why."""


class Site:
    """HTTPS requests to the public URL, optionally connecting to a fixed address."""

    def __init__(self, url, cafile=None, connect_to=None, token=None):
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise SmokeError(f"--url must be https://..., got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 443
        self.context = ssl.create_default_context(cafile=cafile)
        self.connect_to = connect_to
        self.token = token

    def open_socket(self, timeout=60):
        raw = socket.create_connection((self.connect_to or self.host, self.port), timeout=timeout)
        return self.context.wrap_socket(raw, server_hostname=self.host)

    def request(self, method, path, body=None, expect=(200,)):
        connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
        connection.sock = self.open_socket()
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        if response.status not in expect:
            raise SmokeError(f"{method} {path} answered {response.status}: {data[:300].decode(errors='replace')}")
        return json.loads(data) if data else None


class WebSocket:
    """Just enough of RFC 6455 for a Jupyter kernel channel (text frames, ping, close)."""

    def __init__(self, site, path):
        self.sock = site.open_socket()
        key = base64.b64encode(os.urandom(16)).decode()
        host = site.host if site.port == 443 else f"{site.host}:{site.port}"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: https://{host}\r\nAuthorization: token {site.token}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SmokeError("the WebSocket handshake was cut off")
            head += chunk
        status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 101 " not in status_line + " ":
            raise SmokeError(f"WebSocket upgrade refused: {status_line}")
        self.buffer = head.split(b"\r\n\r\n", 1)[1]

    def _read(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SmokeError("the WebSocket closed unexpectedly")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, message):
        self._send_frame(0x1, json.dumps(message).encode())

    def receive_json(self):
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(length)
            if opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode == 0x8:
                raise SmokeError("the kernel WebSocket was closed by the server")
            elif opcode in (0x0, 0x1):
                message += payload
                if first & 0x80:
                    return json.loads(message)

    def close(self):
        try:
            self._send_frame(0x8, b"")
        finally:
            self.sock.close()


def create_token(compose):
    command = [*shlex.split(compose), "exec", "-T", "hub", "python3", "-c", TOKEN_SCRIPT]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SmokeError(f"could not create a token in the hub container: {result.stderr.strip()[-300:]}")
    return result.stdout.strip().splitlines()[-1]


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise SmokeError(f"timed out after {timeout} s waiting for {what}")


def server_state(site):
    user = site.request("GET", f"/hub/api/users/{SMOKE_USER}")
    return user.get("servers", {}).get("")


def run_code(site, code, timeout=120):
    """Start a kernel, run `code`, return its stdout; the kernel is deleted afterwards."""
    base = f"/user/{SMOKE_USER}/api/kernels"
    kernel = site.request("POST", base, body={}, expect=(201,))
    socket_ = WebSocket(site, f"{base}/{kernel['id']}/channels")
    try:
        msg_id = uuid.uuid4().hex
        socket_.send_json({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": SMOKE_USER,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False},
        })
        output, deadline = "", time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = socket_.receive_json()
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message.get("msg_type") or message["header"]["msg_type"]
            if kind == "stream":
                output += message["content"]["text"]
            elif kind == "error":
                raise SmokeError(f"the kernel raised {message['content'].get('ename')}")
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                return output
        raise SmokeError(f"no result from the kernel within {timeout} s")
    finally:
        socket_.close()
        site.request("DELETE", f"{base}/{kernel['id']}", expect=(204,))


def steps(site, compose, spawn_timeout):
    def create_token_step():
        site.token = create_token(compose)
        return "15-minute token for the smoke-test service"

    def create_user():
        site.request("POST", f"/hub/api/users/{SMOKE_USER}", expect=(201, 409))
        return f"user {SMOKE_USER} exists"

    def start_server():
        site.request("POST", f"/hub/api/users/{SMOKE_USER}/server", expect=(201, 202, 400))
        wait_for(lambda: (server_state(site) or {}).get("ready"), spawn_timeout, "the server to be ready")
        return f"server ready at /user/{SMOKE_USER}/"

    def execute():
        output = run_code(site, "print(6 * 7)")
        if output.strip() != "42":
            raise SmokeError(f"print(6 * 7) printed {output!r}")
        return "print(6 * 7) -> 42 over the kernel WebSocket"

    def stop_server():
        site.request("DELETE", f"/hub/api/users/{SMOKE_USER}/server", expect=(202, 204))
        wait_for(lambda: server_state(site) is None, 120, "the server to stop")
        return "server stopped"

    def delete_user():
        site.request("DELETE", f"/hub/api/users/{SMOKE_USER}", expect=(204,))
        return f"user {SMOKE_USER} deleted"

    return [create_token_step, create_user, start_server, execute, stop_server, delete_user]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="public URL, e.g. https://hub.example.org")
    parser.add_argument("--cafile", help="CA certificate to trust (e.g. nginx/test-ca/ca.crt)")
    parser.add_argument("--connect-to", help="connect to this address instead of resolving the hostname")
    parser.add_argument("--compose", default="docker compose", help="Compose command of this deployment")
    parser.add_argument("--spawn-timeout", type=int, default=300)
    args = parser.parse_args(argv)
    cafile = args.cafile
    if cafile is None and os.path.exists("nginx/test-ca/ca.crt"):
        cafile = "nginx/test-ca/ca.crt"
    site = Site(args.url, cafile=cafile, connect_to=args.connect_to)
    all_steps = steps(site, args.compose, args.spawn_timeout)
    for number, step in enumerate(all_steps, start=1):
        started = time.monotonic()
        try:
            result = step()
        except (SmokeError, OSError, ssl.SSLError, subprocess.TimeoutExpired) as error:
            print(f"smoke {number}/{len(all_steps)} FAILED: {step.__name__}: {error}", file=sys.stderr)
            return 1
        print(f"smoke {number}/{len(all_steps)} ok ({time.monotonic() - started:.1f} s): {result}")
    print("smoke: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
