"""The spawn queue (hub/spawn_queue.py): starts admitted in order, a few at a time, nobody refused;
Docker API calls in DOCKER_API_THREADS threads, through docker-py's real client to an engine on a Unix socket."""

import asyncio
import http.server
import json
import socketserver
import sys
import threading
import time
import types

import pytest

from template_helpers import PROJECT_TEMPLATE, load_module

sys.path.insert(0, str(PROJECT_TEMPLATE / "hub"))
spawn_queue = load_module(PROJECT_TEMPLATE / "hub" / "spawn_queue.py", "spawn_queue")


async def start_many(queue, names, width, hold):
    """Each name takes a ticket in order, enters, holds its slot for `hold` s, leaves; returns admission order."""
    admitted = []

    async def one(name):
        ticket = queue.ticket(width)
        await queue.enter(ticket, width)
        admitted.append((name, queue.running))
        await asyncio.sleep(hold)
        queue.leave(width)

    await asyncio.gather(*(one(name) for name in names))
    return admitted


def test_admits_in_order_and_never_more_than_the_width():
    queue = spawn_queue.AdmissionQueue()
    names = [f"user{number:02d}" for number in range(12)]
    admitted = asyncio.run(start_many(queue, names, width=3, hold=0.01))
    assert [name for name, _ in admitted] == names, "first come, first served"
    assert max(running for _, running in admitted) == 3
    assert queue.running == 0 and not queue.waiting


def test_positions_count_down_and_a_cancelled_wait_gives_its_place_back():
    async def scenario():
        queue = spawn_queue.AdmissionQueue()
        first = queue.ticket(1)
        await queue.enter(first, 1)
        second, third = queue.ticket(1), queue.ticket(1)
        assert (queue.position(second), queue.position(third)) == (1, 2)
        waiting = asyncio.ensure_future(queue.enter(second, 1))
        await asyncio.sleep(0)
        waiting.cancel()  # e.g. the user's spawn timed out or was stopped
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert queue.position(third) == 1
        queue.leave(1)
        await queue.enter(third, 1)
        assert queue.running == 1 and not queue.waiting

    asyncio.run(scenario())


def test_a_wait_cancelled_just_after_admission_frees_the_slot():
    async def scenario():
        queue = spawn_queue.AdmissionQueue()
        holder = queue.ticket(1)
        await queue.enter(holder, 1)
        late = queue.ticket(1)
        waiting = asyncio.ensure_future(queue.enter(late, 1))
        await asyncio.sleep(0)
        queue.leave(1)  # admits `late` ...
        waiting.cancel()  # ... whose spawn is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert queue.running == 0, "the slot is not leaked"

    asyncio.run(scenario())


class FakeEngine:
    """Answers the Docker API calls used here, each inspect taking `delay` s; records how many
    run at once and how many connections clients opened."""

    daemon_threads = True
    request_queue_size = 64  # a real engine accepts many clients at once

    def __init__(self, address, delay):
        self.delay, self.lock = delay, threading.Lock()
        self.in_flight = self.most_in_flight = self.connections = self.version_calls = 0
        super().__init__(address, EngineHandler)


class UnixEngine(FakeEngine, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The engine on its socket, as the hub reaches it by default."""


class TcpEngine(FakeEngine, socketserver.ThreadingMixIn, socketserver.TCPServer):
    """The engine behind the socket proxy (tcp://docker-proxy:2375)."""


class EngineHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real engine

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def address_string(self):
        return "engine"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/version":
            with self.server.lock:
                self.server.version_calls += 1
            return self.reply({"ApiVersion": "1.41", "Version": "20.10.0"})
        with self.server.lock:
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.in_flight -= 1
        self.reply({"Id": self.path.split("/")[3], "State": {"Running": True}})

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(params=["unix", "tcp"])
def engine(request, tmp_path, monkeypatch):
    if request.param == "unix":
        server = UnixEngine(str(tmp_path / "docker.sock"), delay=0.3)
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'docker.sock'}")
    else:
        server = TcpEngine(("127.0.0.1", 0), delay=0.3)
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def spawner_with_threads(threads):
    """A spawner of a fresh subclass, so its class-level executor and client are its own."""
    cls = type("Probe", (spawn_queue.QueuedDockerSpawner,), {"_client": None, "_docker_api_executor": None})
    return cls(user=types.SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice"),
               docker_api_threads=threads)


def inspect_at_once(spawners):
    """Every spawner inspects its container at the same moment, as polls of many servers do; returns seconds."""
    async def all_at_once():
        started = time.monotonic()
        answers = await asyncio.gather(*(spawner.docker("inspect_container", f"c{number}")
                                         for number, spawner in enumerate(spawners)))
        assert [answer["Id"] for answer in answers] == [f"c{number}" for number in range(len(spawners))]
        return time.monotonic() - started

    return asyncio.run(all_at_once())


def test_docker_api_calls_of_different_users_run_at_once(engine):
    first = spawner_with_threads(4)
    others = [type(first)(user=first.user, docker_api_threads=4) for _ in range(3)]
    assert {id(spawner.executor) for spawner in [first, *others]} == {id(first.executor)}, "one pool per hub"
    elapsed = inspect_at_once([first, *others])
    assert engine.most_in_flight == 4
    assert elapsed < 2 * engine.delay


def test_threads_racing_to_the_first_call_share_one_client(engine):
    spawner = spawner_with_threads(8)
    inspect_at_once([spawner] * 8)
    assert engine.version_calls == 1, "one APIClient, made once"


def test_one_thread_runs_them_one_after_the_other_as_dockerspawner_does(engine):
    spawner = spawner_with_threads(1)
    elapsed = inspect_at_once([spawner] * 4)
    assert engine.most_in_flight == 1
    assert elapsed >= 4 * engine.delay


def test_more_threads_than_docker_pys_pool_keep_their_connections(engine):
    spawner = spawner_with_threads(12)
    assert spawner.client_kwargs == {"max_pool_size": 12}
    inspect_at_once([spawner] * 12)
    inspect_at_once([spawner] * 12)
    assert engine.most_in_flight == 12
    # One for the version check, 12 for both rounds: with docker-py's default pool of 10
    # connections per host (TCP, the socket proxy), the second round would open 2 more.
    assert engine.connections <= 13


class StartingServer(http.server.BaseHTTPRequestHandler):
    """A notebook server that is still starting: 503 for its first `not_ready` requests, then 200."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests += 1
        self.send_response(503 if self.server.requests <= self.server.not_ready else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_starting_server_is_asked_every_ready_poll_ms_not_at_jupyterhubs_5_s_back_off():
    """Twelve not-ready answers: asked every 50 ms the wait ends well inside a 3 s timeout; JupyterHub's
    own check (random waits doubling from 0.2 s up to 5 s between tries) would still be waiting."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StartingServer)
    server.requests, server.not_ready = 0, 12
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spawner = spawner_with_threads(1)
        spawner.ready_poll_ms, spawner.http_timeout = 50, 3
        asyncio.run(spawner._wait_for_answer(f"http://127.0.0.1:{server.server_address[1]}/user/alice/"))
        assert server.requests == 13, "asked until the first answer below 500, then no more"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_never_answers_times_out_after_http_timeout():
    spawner = spawner_with_threads(1)
    spawner.ready_poll_ms, spawner.http_timeout = 50, 1
    with socketserver.TCPServer(("127.0.0.1", 0), None) as closed:
        port = closed.server_address[1]  # bound, then closed below: nothing listens there
    with pytest.raises(TimeoutError, match="didn't respond in 1 seconds"):
        asyncio.run(spawner._wait_for_answer(f"http://127.0.0.1:{port}/user/alice/"))
