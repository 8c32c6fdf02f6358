"""Where the CPU went during a storm: the site's containers, the users' containers, the engine.

Read from the kernel's accounting (cgroup v1 `cpuacct` or v2 `cpu.stat` of each container,
/proc for the engine's processes and the machine's total), so the profile costs nothing to take.
"""

import os
from pathlib import Path

from limits import docker

ENGINE_COMMANDS = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy", "runc"}
TICKS = os.sysconf("SC_CLK_TCK")


def container_cpu_seconds(container_id):
    """CPU seconds a container's processes used so far, or 0.0 when its cgroup is not found."""
    for path in (Path("/sys/fs/cgroup/cpuacct/docker") / container_id / "cpuacct.usage",
                 Path("/sys/fs/cgroup/system.slice") / f"docker-{container_id}.scope" / "cpu.stat",
                 Path("/sys/fs/cgroup/docker") / container_id / "cpu.stat"):
        if path.exists():
            text = path.read_text()
            if path.name == "cpuacct.usage":
                return int(text) / 1e9
            usage = dict(line.split() for line in text.splitlines())
            return int(usage["usage_usec"]) / 1e6
    return 0.0


def engine_cpu_seconds():
    """The host engine's processes; engines inside containers (nested test nodes) are not this one."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "comm").read_text().strip()
            in_container = "/docker/" in (entry / "cgroup").read_text()
        except OSError:
            continue
        if command in ENGINE_COMMANDS and not in_container:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def machine_busy_seconds():
    """CPU seconds all cores spent busy since boot (everything except idle and iowait)."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICKS


def busy_cores(seconds=2.0):
    """How many cores something else keeps busy right now (sampled over `seconds`): a storm
    should start on an idle machine.  The load average would still count the last storm."""
    import time

    before, started = machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return round((machine_busy_seconds() - before) / (time.monotonic() - started), 2)


def snapshot(site_containers, user_prefix):
    """{'hub': s, 'nginx': s, 'users': s, 'engine': s, 'machine': s} cumulative CPU seconds now."""
    users = docker("ps", "-q", "--no-trunc", "--filter", f"name=^{user_prefix}-").split()
    figures = {name: container_cpu_seconds(container) for name, container in site_containers.items()}
    figures["users"] = sum(container_cpu_seconds(container) for container in users)
    figures["engine"] = engine_cpu_seconds()
    figures["machine"] = machine_busy_seconds()
    return figures


def difference(before, after, seconds):
    """CPU seconds per part between two snapshots; 'other' is the machine's rest (tests, helpers)."""
    # Clamped at 0: a process that exits in between takes its CPU time with it.
    used = {key: round(max(0.0, after[key] - before.get(key, 0.0)), 1) for key in after}
    # User containers did not exist at the first snapshot: all their time falls in between.
    used["users"] = round(after["users"], 1)
    parts = sum(value for key, value in used.items() if key != "machine")
    used["other"] = round(max(0.0, used["machine"] - parts), 1)
    used["wall"] = round(seconds, 1)
    return used
