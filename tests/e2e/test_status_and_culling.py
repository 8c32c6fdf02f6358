"""`make status`, `make metrics` and idle culling, on a real Docker engine.

One site with a short idle timeout (CULL_IDLE_TIMEOUT=60, CULL_EVERY=10 in .env),
shared by the tests in file order: nginx refuses /hub/metrics; a running server
shows in `make status` with its age and activity, beside the services, the
certificate's expiry and the user volumes; `make metrics` reads the metrics on the
private network, where they need the read:metrics scope; the culler stops the idle
server, keeps its volume, and the user starts again with the file there; with the hub
stopped, `make status` prints what it can and says the hub is down, and `make
upgrade`/`make metrics` refuse with one line.
"""

import re
import ssl
import time
from datetime import datetime, timezone

import pytest

from e2e_helpers import new_session, run, site_lifecycle, wait_until
from test_backup_restore import get_file, put_file, start_server, user_model

CONTEXT = {"project_name": "Cull E2E", "hostname": "hub.cull.up.e2e.test", "authenticator": "local-trial",
           "admin_users": "admin", "allowed_users": "alice", "notebook_image_flavor": "base-notebook",
           "mem_limit": "1G", "cpu_limit": "1", "http_port": "47180", "https_port": "47543",
           "docker_network": "jh-e2e-cull-network", "data_volume": "jh-e2e-cull-data"}
IDLE_TIMEOUT, CULL_EVERY = 60, 10
ENV = {"USER_CONTAINER_PREFIX": "cull", "USER_VOLUME_PREFIX": "cull-user",
       "CULL_IDLE_TIMEOUT": str(IDLE_TIMEOUT), "CULL_EVERY": str(CULL_EVERY)}
METRICS_FROM_NETWORK = (
    "import sys, urllib.error, urllib.request\n"
    "headers = {'Authorization': 'token ' + sys.argv[1]} if sys.argv[1] else {}\n"
    "try:\n"
    "    print(urllib.request.urlopen(urllib.request.Request('http://jupyterhub:8081/hub/metrics', headers=headers)).status)\n"
    "except urllib.error.HTTPError as error:\n"
    "    print(error.code)\n"
)


def make(site, target):
    return run(["make", "-C", str(site.path), "--no-print-directory", target], timeout=600, check=False)


def one_line(result):
    lines = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert result.returncode != 0 and len(lines) == 1, (result.returncode, result.stdout[-1500:], result.stderr[-1500:])
    return lines[0]


def container_exists(name):
    return run(["docker", "ps", "-aq", "--filter", f"name=^{name}$"]).stdout.strip() != ""


@pytest.fixture(scope="module")
def site(tmp_path_factory, phase_times):
    yield from site_lifecycle(tmp_path_factory, phase_times, "cull", CONTEXT, env=ENV)


@pytest.fixture(scope="module")
def alice(site):
    session = site.login("alice")
    start_server(site, session, "alice")
    put_file(site, session, "alice", "kept.txt", b"survives the culler\n")
    response = session.post(f"{site.url}/hub/api/users/alice/tokens", json={"note": "status test"},
                            headers={"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/"), "Referer": f"{site.url}/hub/"},
                            timeout=30)
    assert response.status_code == 201, response.text
    return {"session": session, "token": response.json()["token"], "started": time.monotonic()}


def test_nginx_refuses_metrics_from_outside(site, alice):
    session = new_session(site.cafile, site.url)
    headers = {"Authorization": f"token {site.env['STATUS_API_TOKEN']}"}
    for path in ("/hub/metrics", "/hub/metrics?format=text", "/hub//metrics", "/hub/%6Detrics", "/hub/metrics/"):
        response = session.get(f"{site.url}{path}", headers=headers, timeout=30, allow_redirects=False)
        assert response.status_code == 404 and "jupyterhub_" not in response.text, (path, response.status_code)
    # The rest of the hub API still answers through nginx.
    assert session.get(f"{site.url}/hub/api/", timeout=30).status_code == 200


def test_make_status_shows_services_servers_certificate_and_volumes(site, alice):
    result = make(site, "status")
    out = result.stdout
    print(out)
    assert result.returncode == 0, (out, result.stderr)
    assert re.search(r"^\s+hub\s+running\s+healthy\s", out, re.MULTILINE), out
    assert re.search(r"^\s+nginx\s+running\s+healthy\s", out, re.MULTILINE), out
    assert "user servers: 1 running or starting" in out
    row = re.search(r"^\s+alice\s+ready\s+(\d+) s ago\s+(\d+) s ago$", out, re.MULTILINE)
    assert row, out
    assert int(row.group(1)) <= time.monotonic() - alice["started"] + 120
    # The expiry date of the certificate nginx serves, as the file says.
    decoded = ssl._ssl._test_decode_cert(str(site.path / "nginx" / "certs" / "fullchain.pem"))
    expiry = datetime.strptime(decoded["notAfter"], "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)
    assert f"certificate: {CONTEXT['hostname']} (served on port 47543) expires {expiry:%Y-%m-%d %H:%M} UTC" in out, out
    assert re.search(r"^user volumes \(cull-user-\*\): 1, [0-9.]+ [kMG]?B in total$", out, re.MULTILINE), out
    assert re.search(r"^\s+cull-user-alice\s+\S+\s+1$", out, re.MULTILINE), out
    assert site.env["STATUS_API_TOKEN"] not in out + result.stderr


def test_make_metrics_on_the_private_network_with_a_scoped_token(site, alice):
    result = make(site, "metrics")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^jupyterhub_running_servers(\{[^}]*\})? 1(\.0)?$", result.stdout, re.MULTILINE), result.stdout[:3000]
    assert site.env["STATUS_API_TOKEN"] not in result.stdout + result.stderr
    # On the users' network (where a Prometheus would run) /hub/metrics needs read:metrics:
    # no token and a user's own token are refused; the status service's token is not.
    image = site.compose("images", "-q", "hub").stdout.split()[0]
    codes = {}
    for label, token in (("none", ""), ("alice", alice["token"]), ("status", site.env["STATUS_API_TOKEN"])):
        codes[label] = run(["docker", "run", "--rm", "--network", CONTEXT["docker_network"], "--entrypoint", "python3",
                            image, "-c", METRICS_FROM_NETWORK, token]).stdout.strip()
    assert codes == {"none": "403", "alice": "403", "status": "200"}, codes


def test_idle_server_is_culled_volume_kept_and_restart_finds_the_file(site, alice):
    session = alice["session"]
    started = time.monotonic()
    wait_until(lambda: not user_model(site, session, "alice")["servers"], IDLE_TIMEOUT + 4 * CULL_EVERY + 120,
               "the culler to stop alice's idle server", interval=5)
    culled_after = time.monotonic() - alice["started"]
    print(f"culled {culled_after:.0f} s after the start (waited {time.monotonic() - started:.0f} s here)")
    assert culled_after >= IDLE_TIMEOUT - 5
    logs = site.compose("logs", "--no-color", "hub").stdout
    assert re.search(r"Culling server alice \(inactive for", logs), logs[-3000:]
    assert not container_exists("cull-alice")
    assert "cull-user-alice" in run(["docker", "volume", "ls", "-q"]).stdout.split()
    assert "user servers: 0 running or starting" in make(site, "status").stdout
    # The user stays and starts again; the file is there.
    start_server(site, session, "alice")
    assert get_file(site, session, "alice", "kept.txt") == b"survives the culler\n"


def test_with_the_hub_down_status_tells_what_it_can_and_others_refuse(site, alice):
    site.compose("stop", "hub")
    result = make(site, "status")
    line = one_line(result)
    assert line.startswith("status: the hub is down (the hub container is not running)"), line
    assert re.search(r"^\s+hub\s+exited\s", result.stdout, re.MULTILINE), result.stdout
    assert "certificate: " in result.stdout and " expires " in result.stdout
    assert "user volumes (cull-user-*): 1" in result.stdout
    assert "user servers:" not in result.stdout
    metrics = one_line(make(site, "metrics"))
    assert metrics.startswith("metrics: the hub is down"), metrics
    upgrade = one_line(make(site, "upgrade"))
    assert "the site is down" in upgrade and upgrade.endswith("nothing was changed"), upgrade
    assert not (site.path / "backups").exists()
    assert not site.compose("ps", "-q", "--status", "running", "hub").stdout.strip()
