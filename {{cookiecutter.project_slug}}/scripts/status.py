"""What the site is doing, seen from this host: `make status` and `make metrics`.

    python3 scripts/status.py status    # services, user servers, certificate, user volumes
    python3 scripts/status.py metrics   # the hub's Prometheus metrics, as a Prometheus reads them

The hub API and /hub/metrics are read on the private network, where a
Prometheus would scrape them: a throwaway container of the running hub's image
on DOCKER_NETWORK asks http://jupyterhub:8081 with the token of the read-only
`status` service (STATUS_API_TOKEN in .env, its role in hub/jupyterhub_config.py).
nginx refuses /hub/metrics from outside.  When the hub is down this prints what
Docker and the certificate still tell, says so, and exits 1.  Never prints the
token.  Stdlib only.
"""

import json
import os
import re
import socket
import ssl
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_secrets import parse_env  # noqa: E402

HUB_API = "http://jupyterhub:8081"
# Runs in the throwaway container: GET each path with the token, print {path: [status, body]}.
FETCH_SCRIPT = """
import json, os, sys, urllib.error, urllib.request
found = {}
for path in sys.argv[1:]:
    request = urllib.request.Request(os.environ["HUB_API"] + path,
                                     headers={"Authorization": "token " + os.environ["STATUS_API_TOKEN"]})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            found[path] = [response.status, response.read().decode()]
    except urllib.error.HTTPError as error:
        found[path] = [error.code, error.read().decode(errors="replace")[:300]]
    except OSError as error:
        found[path] = [0, str(error)]
print(json.dumps(found))
"""
CERT_WARNING_DAYS = 14
# A Go template; written in two pieces because this file is also a Cookiecutter (Jinja) template.
VOLUMES_FORMAT = "{" + "{json .Volumes}}"


class StatusError(Exception):
    """Something this host cannot tell; the message says what."""


def docker(*args, timeout=120, env=None):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)


def compose(*args):
    return docker("compose", "--project-directory", str(ROOT), *args)


def site_values():
    path = ROOT / ".env"
    if not path.exists():
        raise StatusError(".env is missing: there is no site here (make secrets, make up)")
    return parse_env(path.read_text(encoding="utf-8"))


# --- Services ------------------------------------------------------------------

def services():
    """[(service, state, health, status text, container id)] for every service of docker-compose.yml."""
    names = compose("config", "--services").stdout.split()
    containers = {}
    for line in compose("ps", "-a", "--format", "json").stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        items = json.loads(line)
        for item in items if isinstance(items, list) else [items]:
            containers[item["Service"]] = item
    rows = []
    for name in names:
        item = containers.get(name)
        if item is None:
            rows.append((name, "absent", "", "no container", ""))
        else:
            rows.append((name, item.get("State", ""), item.get("Health", ""), item.get("Status", ""), item.get("ID", "")))
    return rows


def hub_container(rows):
    """The running hub's container id, or None."""
    return next((cid for name, state, _, _, cid in rows if name == "hub" and state == "running"), None)


# --- The hub API, from the private network -------------------------------------------

def fetch(values, hub_id, *paths):
    """{path: (status, body)} read from the hub on DOCKER_NETWORK with the status token."""
    image = json.loads(docker("inspect", hub_id).stdout)[0]["Config"]["Image"]
    env = dict(os.environ, STATUS_API_TOKEN=values.get("STATUS_API_TOKEN", ""), HUB_API=HUB_API)
    result = docker("run", "--rm", "--network", values["DOCKER_NETWORK"], "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges:true", "--read-only", "--memory", "128m",
                    "-e", "STATUS_API_TOKEN", "-e", "HUB_API", "--entrypoint", "python3", image, "-c", FETCH_SCRIPT, *paths, env=env)
    if result.returncode != 0:
        raise StatusError(f"could not reach the hub from {values['DOCKER_NETWORK']}: {result.stderr.strip()[-200:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for path, (status, body) in found.items():
        if status == 403:
            raise StatusError(f"the hub refused {path} to the status service (403): is STATUS_API_TOKEN in .env "
                              "the one the hub runs with? `make up` applies it")
        if status != 200:
            raise StatusError(f"GET {path} answered {status or 'nothing'}: {body[:200]}")
    return {path: body for path, (status, body) in found.items()}


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def ago(moment, now):
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} d ago"


def server_rows(users, now):
    """[(user, state, started ago, last activity ago)] of every running or starting server."""
    rows = []
    for user in users:
        for name, server in sorted((user.get("servers") or {}).items()):
            label = user["name"] + (f"/{name}" if name else "")
            state = "ready" if server.get("ready") else (server.get("pending") or "not ready")
            rows.append((label, state, ago(parse_time(server.get("started")), now), ago(parse_time(server.get("last_activity")), now)))
    return rows


# --- The certificate ---------------------------------------------------------------

def der_items(data, start, end):
    """(tag, content start, content end) of each DER item between start and end."""
    while start < end:
        tag, length = data[start], data[start + 1]
        start += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[start:start + count], "big")
            start += count
        yield tag, start, start + length
        start += length


def certificate_expiry(der):
    """notAfter of a DER certificate (stdlib has no parser for an unverified one)."""
    _, cert_start, cert_end = next(der_items(der, 0, len(der)))
    _, tbs_start, tbs_end = next(der_items(der, cert_start, cert_end))
    fields = list(der_items(der, tbs_start, tbs_end))
    if fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    _, validity_start, validity_end = fields[3]  # serial, signature, issuer, validity
    times = list(der_items(der, validity_start, validity_end))
    tag, start, end = times[1]
    text = der[start:end].decode()
    layout = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"  # UTCTime or GeneralizedTime
    return datetime.strptime(text, layout).replace(tzinfo=timezone.utc)


def served_certificate(hostname, port, timeout=10):
    """The DER certificate the site serves for `hostname` on this host's `port` (not verified: any is read)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", int(port)), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=hostname) as tls:
        return tls.getpeercert(binary_form=True)


def certificate_line(values, now):
    hostname, port = values.get("PUBLIC_HOSTNAME", ""), values.get("HTTPS_PORT", "443")
    try:
        expiry = certificate_expiry(served_certificate(hostname, port))
    except (OSError, ValueError, IndexError, StopIteration) as error:
        return f"certificate: not served on 127.0.0.1:{port} ({type(error).__name__}: {error})", False
    days = (expiry - now).days
    line = f"certificate: {hostname} (served on port {port}) expires {expiry:%Y-%m-%d %H:%M} UTC, in {days} days"
    if days < CERT_WARNING_DAYS:
        return line + f": RENEW IT (less than {CERT_WARNING_DAYS} days left)", False
    return line, True


# --- User volumes --------------------------------------------------------------------

UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def size_bytes(text):
    match = re.fullmatch(r"([0-9.]+)\s*([kKMGT]?B)", text.strip())
    return float(match.group(1)) * UNITS[match.group(2)] if match else 0.0


def volume_rows(prefix):
    """[(volume, size text, containers using it)] of the user volumes, from `docker system df -v`."""
    result = docker("system", "df", "-v", "--format", VOLUMES_FORMAT, timeout=300)
    if result.returncode != 0:
        raise StatusError(f"docker system df failed: {result.stderr.strip()[-200:]}")
    volumes = json.loads(result.stdout or "[]") or []
    return sorted((item["Name"], item.get("Size", "?"), item.get("Links", "?"))
                  for item in volumes if item["Name"].startswith(prefix + "-"))


def human(size):
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


# --- Commands --------------------------------------------------------------------------

def table(rows, indent="  "):
    widths = [max(len(str(row[column])) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(indent + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows)


def status(out=sys.stdout):
    values = site_values()
    now = datetime.now(timezone.utc)
    rows = services()
    print("services:", file=out)
    service_table = [(name, state, health or "-", text) for name, state, health, text, _ in rows]
    print(table([("SERVICE", "STATE", "HEALTH", "DOCKER SAYS"), *service_table]), file=out)
    hub_down = None
    hub_id = hub_container(rows)
    if hub_id is None:
        hub_down = "the hub container is not running"
    else:
        try:
            users = json.loads(fetch(values, hub_id, "/hub/api/users?state=active")["/hub/api/users?state=active"])
        except StatusError as error:
            hub_down = str(error)
        else:
            servers = server_rows(users, now)
            print(f"user servers: {len(servers)} running or starting", file=out)
            if servers:
                print(table([("USER", "STATE", "STARTED", "LAST ACTIVITY")] + servers),
                      file=out)
    line, _ = certificate_line(values, now)
    print(line, file=out)
    prefix = values.get("USER_VOLUME_PREFIX", "jupyterhub-user")
    volumes = volume_rows(prefix)
    total = sum(size_bytes(size) for _, size, _ in volumes)
    print(f"user volumes ({prefix}-*): {len(volumes)}, {human(total)} in total", file=out)
    if volumes:
        print(table([("VOLUME", "SIZE", "CONTAINERS")] + volumes), file=out)
    if hub_down:
        print(f"status: the hub is down ({hub_down}); user servers unknown: `make up` starts it, `make logs` says why it stopped",
              file=sys.stderr)
        return 1
    return 0


def metrics(out=sys.stdout):
    values = site_values()
    hub_id = hub_container(services())
    if hub_id is None:
        raise StatusError("the hub is down (its container is not running): no metrics; `make up` starts it")
    out.write(fetch(values, hub_id, "/hub/metrics")["/hub/metrics"])
    return 0


def main(argv):
    if len(argv) != 2 or argv[1] not in {"status", "metrics"}:
        print("usage: status.py status|metrics", file=sys.stderr)
        return 2
    try:
        return status() if argv[1] == "status" else metrics()
    except (StatusError, subprocess.TimeoutExpired) as error:
        print(f"{argv[1]}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
