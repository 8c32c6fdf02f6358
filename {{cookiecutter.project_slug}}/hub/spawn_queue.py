"""Start user servers in order, a few at a time, instead of all at once.

A notebook server spends a few CPU-seconds starting.  When a class logs in at
9:00 and twenty containers start together, the kernel shares the cores fairly
among them, so every student waits as long as the last one.  Admitting starts
in order, at most SPAWN_QUEUE_WIDTH at a time, lets the first ones finish early
and the last one no later.  Nobody is refused: JupyterHub's own
`concurrent_spawn_limit` answers HTTP 429 instead, which this queue makes
unnecessary.  The wait in the queue does not count against `start_timeout`
(admission happens in the pre-spawn step, before JupyterHub starts its clock),
and the spawn page shows each user their place in line.

DockerSpawner runs every Docker API call of every user (create, start, inspect,
and each server's periodic poll) in one thread, one call after the other; here
they run in DOCKER_API_THREADS threads, so one slow call does not hold up the rest.
"""

import asyncio
import collections
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from docker.constants import DEFAULT_MAX_POOL_SIZE
from dockerspawner import DockerSpawner
from jupyterhub.utils import exponential_backoff
from tornado.httpclient import AsyncHTTPClient
from traitlets import Integer, default


class AdmissionQueue:
    """First come, first served admission with at most `width` holders at once."""

    def __init__(self):
        self.running = 0
        self.waiting = collections.deque()

    def position(self, ticket):
        """1 for the next in line, 2 for the one after, ...; 0 once admitted (or unknown)."""
        for place, waiting in enumerate(self.waiting, start=1):
            if waiting is ticket:
                return place
        return 0

    def ticket(self, width):
        """A future that resolves when the caller is admitted (at once when there is room)."""
        ticket = asyncio.get_running_loop().create_future()
        self.waiting.append(ticket)
        self._admit(width)
        return ticket

    async def enter(self, ticket, width):
        """Wait for `ticket`; a cancelled wait gives its place (or its slot) back."""
        try:
            await asyncio.shield(ticket)
        except asyncio.CancelledError:
            if ticket in self.waiting:
                self.waiting.remove(ticket)
            elif ticket.done():
                self.leave(width)
            raise

    def leave(self, width):
        self.running -= 1
        self._admit(width)

    def _admit(self, width):
        while self.waiting and (width <= 0 or self.running < width):
            ticket = self.waiting.popleft()
            if not ticket.done():
                self.running += 1
                ticket.set_result(None)


class QueuedDockerSpawner(DockerSpawner):
    """DockerSpawner whose starts pass through one AdmissionQueue per hub."""

    queue = AdmissionQueue()

    queue_width = Integer(
        0,
        config=True,
        help="Server starts admitted at once; the rest wait in order. 0: one more than the host's CPUs.",
    )

    docker_api_threads = Integer(
        4,
        config=True,
        help="Docker API calls (all users' spawns, stops and polls) that may run at once; DockerSpawner alone runs one.",
    )

    ready_poll_ms = Integer(
        500,
        config=True,
        help="How often a starting server is asked whether it answers (ms). JupyterHub alone backs off to every 5 s.",
    )

    # One pool per hub, like DockerSpawner's own single-thread executor it replaces.
    _docker_api_executor = None

    @property
    def executor(self):
        cls = type(self)
        if cls._docker_api_executor is None:
            cls._docker_api_executor = ThreadPoolExecutor(max(1, self.docker_api_threads), thread_name_prefix="docker-api")
        return cls._docker_api_executor

    _client_lock = threading.Lock()

    @property
    def client(self):
        # DockerSpawner makes its shared client on first use, unguarded: threads racing there
        # would each make one (each asking the engine for its version).
        with self._client_lock:
            made = type(self)._client is not None
            client = super().client
            if not made and client.base_url.startswith("http://"):
                # Over TCP (the socket proxy) docker-py uses requests' own adapter, which ignores
                # max_pool_size: 10 kept connections per host, fewer than a busy hub's threads.
                client.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=self._pool_size()))
            return client

    def _pool_size(self):
        # More threads than kept connections would open and throw away a connection per call.
        return max(DEFAULT_MAX_POOL_SIZE, self.docker_api_threads)

    @default("client_kwargs")
    def _keep_a_connection_per_thread(self):
        # On the Docker socket: docker-py's pool of kept connections (per API path).
        return {"max_pool_size": self._pool_size()}

    def _width(self):
        # One more than the CPUs: a start waiting on the engine or the disk leaves no core idle.
        return self.queue_width or (os.cpu_count() or 1) + 1

    async def run_pre_spawn_hook(self):
        width = self._width()
        self._queue_ticket = ticket = self.queue.ticket(width)
        queued_at = time.monotonic()
        await self.queue.enter(ticket, width)
        self.log.info("spawn queue: %s admitted after %.1f s; %d waiting", self._log_name,
                      time.monotonic() - queued_at, len(self.queue.waiting))
        self._queue_holder = True
        try:
            return await self._run_configured_pre_spawn_hook()
        except BaseException:
            self._leave_queue()
            raise

    async def _run_configured_pre_spawn_hook(self):
        result = super().run_pre_spawn_hook()
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        return result

    async def start(self):
        """Start the container and hold the queue slot until its server answers HTTP:
        the CPU-heavy part of a start is the server booting, after the container runs."""
        try:
            url = await super().start()
            address = url if isinstance(url, str) else f"http://{url[0]}:{url[1]}"
            await self._wait_for_answer(address.rstrip("/") + self.server.base_url)
            return url
        finally:
            self._leave_queue()

    async def _wait_for_answer(self, url):
        """Ask the server every ready_poll_ms until it answers HTTP (any status below 500, as the hub's
        own check).  JupyterHub's check backs off to 5 s between tries, so a server that came up just
        after one would wait seconds more, and hold its queue slot that long."""
        interval = max(self.ready_poll_ms, 10) / 1000

        async def answers():
            # tornado's client, not jupyterhub.httpclient: that one is new in JupyterHub 6, and a
            # site on an older hub (before `make upgrade`) runs this file too.
            try:
                response = await AsyncHTTPClient().fetch(url, raise_error=False, follow_redirects=False, request_timeout=10)
            except Exception:  # not listening yet, or reset while it starts: ask again
                return False
            return response.code < 500

        await exponential_backoff(answers, f"Server at {url} didn't respond in {self.http_timeout} seconds",
                                  start_wait=min(0.1, interval), max_wait=interval, timeout=self.http_timeout)

    def _leave_queue(self):
        if getattr(self, "_queue_holder", False):
            self._queue_holder = False
            self.queue.leave(self._width())

    async def progress(self):
        ticket = getattr(self, "_queue_ticket", None)
        while ticket is not None and not ticket.done():
            ahead = self.queue.position(ticket) - 1
            yield {"progress": 5, "message": f"Waiting to start: {ahead} {'user' if ahead == 1 else 'users'} ahead of you"}
            await asyncio.sleep(1)
        async for event in super().progress():
            yield event
