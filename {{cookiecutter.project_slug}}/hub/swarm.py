"""User servers as Docker Swarm services (deployment_target swarm; docker-stack.yml).

DockerSpawner's SwarmSpawner runs each user's server as a one-task service that
the Swarm scheduler places on a node with room, with the same memory and CPU
limits as on one host.  What it leaves to the site is storage, because a named
volume exists only on the node that created it:

- shared storage (NFS_SERVER set in .env): every named volume is a volume of the
  engine's `local` driver with type=nfs, <NFS_EXPORT>/<volume name> on the
  server, so a server may start on any node and finds its files there; when a
  node is drained, Swarm restarts its servers elsewhere with the same files;
- no shared storage (NFS_SERVER empty): each user is pinned to the node that
  holds their volume.  The node is recorded at the first start (in the
  spawner's state, in the hub database) and becomes a placement constraint; when
  that node is drained or down, the server stops and the next start fails at
  once with a message naming the node, instead of opening an empty home
  elsewhere.
"""

import asyncio

from docker.types import DriverConfig, Mount, ServiceMode
from dockerspawner import SwarmSpawner
from tornado import web
from traitlets import List, Unicode

from spawn_queue import QueuedDockerSpawner

# `docker node update --availability` values, as the message to a user says them.
AVAILABILITY_WORDS = {"drain": "drained", "pause": "paused"}
# Task states in which the task's container runs (a pending task, as on a drained node, has none).
RUNNING_STATES = {"starting", "running"}


def nfs_driver_config(server, export, options, volume):
    """The local driver's options that mount <export>/<volume> from an NFS server."""
    return DriverConfig("local", {"type": "nfs", "o": f"addr={server},{options}", "device": f":{export.rstrip('/')}/{volume}"})


def node_problem(nodes, hostname):
    """Why `hostname` cannot run a server now (from `docker node ls` data), or None when it can."""
    node = next((node for node in nodes if node["Description"]["Hostname"] == hostname), None)
    if node is None:
        return "has left the swarm"
    availability = node["Spec"].get("Availability")
    if availability != "active":
        return f"is {AVAILABILITY_WORDS.get(availability, availability)} (not accepting servers)"
    if node["Status"].get("State") != "ready":
        return f"is {node['Status'].get('State')}"
    return None


def pinned_message(hostname, problem):
    return (f"Your files are on the Swarm node {hostname}, which {problem}; without shared storage your server "
            f"starts only there. Ask an administrator to bring the node back "
            f"(docker node update --availability active {hostname}) or to move your volume (README, 'Swarm').")


class SiteSwarmSpawner(QueuedDockerSpawner, SwarmSpawner):
    """SwarmSpawner with the spawn queue, named volumes as volumes (NFS or pinned), and pinning."""

    nfs_server = Unicode("", config=True, help="NFS server for users' volumes; empty: pin users to their volume's node")
    nfs_export = Unicode("/", config=True, help="Folder on the NFS server that holds one folder per volume")
    nfs_options = Unicode("nfsvers=4,rw", config=True, help="Mount options besides addr=")
    constraints = List(Unicode(), config=True, help="Placement constraints for every user server, e.g. node.role==worker")
    # The node holding this user's volume (pinned mode); kept in the spawner's state.
    home_node = Unicode("")

    @property
    def pinned(self):
        return not self.nfs_server

    @property
    def mounts(self):
        mounts = []
        for source, volume in self.volume_binds.items():
            named = not source.startswith("/")
            driver = nfs_driver_config(self.nfs_server, self.nfs_export, self.nfs_options, source) if named and not self.pinned else None
            mounts.append(Mount(target=volume["bind"], source=source, type="volume" if named else "bind",
                                read_only=volume["mode"] == "ro", driver_config=driver))
        return mounts

    def get_state(self):
        state = super().get_state()
        if self.home_node:
            state["home_node"] = self.home_node
        return state

    def load_state(self, state):
        super().load_state(state)
        self.home_node = state.get("home_node", self.home_node)

    async def home_node_problem(self):
        return node_problem(await self.docker("nodes"), self.home_node)

    async def start(self):
        if self.pinned and self.home_node:
            problem = await self.home_node_problem()
            if problem:
                self._leave_queue()  # admitted by the spawn queue's pre-spawn step
                raise web.HTTPError(503, pinned_message(self.home_node, problem))
        pinned = [f"node.hostname=={self.home_node}"] if self.pinned and self.home_node else []
        if self.constraints or pinned:
            self.extra_placement_spec = {**self.extra_placement_spec, "constraints": [*self.constraints, *pinned]}
        return await super().start()

    async def remove_object(self):
        """Scale to zero and wait until the task has stopped, then remove the service.  Removed at
        once, the old server would still answer for a moment while its successor (same name,
        maybe the same address) starts: a restart could then be reported ready too early."""
        service = await self.get_object()
        if service is not None:
            await self.docker("update_service", self.service_id, service["Version"]["Index"],
                              mode=ServiceMode("replicated", replicas=0), fetch_current_spec=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while loop.time() < deadline:
                tasks = await self.docker("tasks", filters={"service": self.service_id})
                if not any(task["Status"]["State"] in RUNNING_STATES for task in tasks):
                    break
                await asyncio.sleep(0.5)
        await super().remove_object()

    async def get_task(self):
        """This service's task, found by the service's ID: SwarmSpawner looks it up by name, which
        right after a restart still finds the removed service's task while it shuts down."""
        if await self.get_object() is None:
            return None
        tasks = (await self.docker("tasks", filters={"service": self.service_id, "desired-state": "running"})
                 or await self.docker("tasks", filters={"service": self.service_id}))
        return tasks[0] if tasks else None

    def task_address(self, task):
        """The task's address on the user network, or None before it has one."""
        for attachment in task.get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == self.network_name and attachment.get("Addresses"):
                return attachment["Addresses"][0].split("/")[0]
        return None

    async def get_ip_and_port(self):
        """The task's address rather than the service's name: a restarted server keeps its name
        but not its address, and the hub's resolver (aiodns) caches names for Docker's 600 s TTL."""
        task = await self.get_task()
        return (task and self.task_address(task)) or self.service_name, self.port

    async def start_object(self):
        await super().start_object()
        if self.pinned and not self.home_node:
            task = await self.get_task()
            node = await self.docker("inspect_node", task["NodeID"])
            self.home_node = node["Description"]["Hostname"]
            self.log.info("%s's volume is on node %s: later starts are placed there", self.user.name, self.home_node)

    async def poll(self):
        status = await super().poll()
        if status is None and self.pinned and self.home_node:
            task = await self.get_task()
            if task and task["Status"]["State"] == "pending" and await self.home_node_problem():
                # Swarm keeps the task waiting for its node: to the hub, the server has stopped.
                return f"waiting for node {self.home_node}"
        if status is None and self.server and self.server.ip:
            task = await self.get_task()
            address = task and task["Status"]["State"] == "running" and self.task_address(task)
            if address and address != self.server.ip:
                # Swarm restarted the task (e.g. on another node, with NFS): the hub's route is stale.
                return f"restarted by Swarm at {address}"
        return status


def manager_address():
    """This manager's address in the swarm (where the other nodes reach it), or None."""
    import docker

    try:
        return docker.from_env().info()["Swarm"]["NodeAddr"] or None
    except Exception:  # no Docker API: fall back to the service name
        return None


def configure(c, env):
    """The Swarm settings, from .env (secrets from /run/secrets, see docker-stack.yml)."""
    c.JupyterHub.spawner_class = SiteSwarmSpawner
    # The hub's proxy token arrives as a Docker secret, not in the environment.
    c.ConfigurableHTTPProxy.auth_token = env("CONFIGPROXY_AUTH_TOKEN")
    # A server's service name resolves to its task's address (no virtual IP: one task each,
    # and kernels without IPVS work too).
    c.SiteSwarmSpawner.extra_endpoint_spec = {"mode": "dnsrr"}
    c.SiteSwarmSpawner.constraints = [rule.strip() for rule in env("USER_SERVER_CONSTRAINTS", "").split(",") if rule.strip()]
    # DockerSpawner reads the image's command on the hub's engine (the manager): pull it there
    # too when missing (SwarmSpawner skips pulls; the nodes pull for themselves).
    c.SiteSwarmSpawner.pull_policy = "ifnotpresent"
    # User servers reach the hub's API at the manager's own address (HUB_API_PORT, published
    # there): it stays the same when the hub restarts, while the hub's service name would
    # resolve to a new task address that the servers' resolver (aiodns) caches for 600 s.
    address = manager_address()
    if address:
        c.JupyterHub.hub_connect_url = f"http://{address}:{env('HUB_API_PORT', '8081')}"
        # (A connect URL alone would make the hub bind that address, which is the node's, not its own.)
        c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
    c.SiteSwarmSpawner.nfs_server = env("NFS_SERVER", "")
    c.SiteSwarmSpawner.nfs_export = env("NFS_EXPORT", "/srv/jupyterhub-users")
    c.SiteSwarmSpawner.nfs_options = env("NFS_OPTIONS", "nfsvers=4,rw")
