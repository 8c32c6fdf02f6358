"""The machine's limits: the notebook image started with plain `docker run`, no hub, no nginx.

Every figure of the deployment is shown next to one of these, measured in the same run, so a
ratio says how much the deployment adds on top of what the engine and the cores allow.
"""

import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import requests

PLAIN_PREFIX = "jh-bench-plain"


def docker(*args, check=True, timeout=300):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def container_address(name, network):
    return docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}', name)


def wait_for_http(url, deadline):
    """Seconds (monotonic clock) when `url` first answers 200, or None at the deadline."""
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        try:
            if session.get(url, timeout=5).status_code == 200:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return None


def start_plain(image, network, name, started, deadline):
    """`docker run` one notebook container; seconds from `started` to its first HTTP 200 (None: never)."""
    docker("run", "-d", "--name", name, "--network", network, image, timeout=600)
    address = container_address(name, network)
    answered = wait_for_http(f"http://{address}:8888/api", deadline)
    return None if answered is None else answered - started


def remove_plain_containers():
    names = docker("ps", "-aq", "--filter", f"name={PLAIN_PREFIX}").split()
    if names:
        docker("rm", "-f", *names, check=False, timeout=600)


def plain_runs_at_once(image, network, count, timeout=900):
    """`count` plain `docker run`s started at the same moment; each one's seconds to HTTP 200."""
    import cpu_profile  # imports this module

    remove_plain_containers()
    cpu_before = cpu_profile.snapshot({}, PLAIN_PREFIX)
    started = time.monotonic()
    deadline = started + timeout
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(start_plain, image, network, f"{PLAIN_PREFIX}-{index:03d}", started, deadline)
                       for index in range(count)]
            seconds = [future.result() for future in futures]
        return seconds, cpu_profile.difference(cpu_before, cpu_profile.snapshot({}, PLAIN_PREFIX), time.monotonic() - started)
    finally:
        remove_plain_containers()


def summary(seconds, count, cpu=None):
    """ok count, p50, p95 and max of one storm's times (None entries did not come up), and its CPU profile."""
    done = sorted(value for value in seconds if value is not None)
    figures = {"users": count, "ok": len(done), "p50": None, "p95": None, "max": None}
    if done:
        p95_index = min(len(done) - 1, max(0, round(0.95 * len(done)) - 1))
        figures.update(p50=round(statistics.median(done), 2), p95=round(done[p95_index], 2), max=round(done[-1], 2))
    if cpu:
        figures["cpu"] = cpu
    return figures
