"""The 2017 recipe's layout for real: Debian's nginx on this machine in front, the hub on 127.0.0.1.

`make host-nginx-install` puts the generated server block into /etc/nginx and
reloads nginx; users log in, run a kernel and a terminal through it;
`make host-nginx-uninstall` takes it out again.  Every refusal (nginx missing,
server_name taken elsewhere, `nginx -t` failing with the new files) leaves
/etc/nginx byte for byte as it was, and the machine's nginx is stopped again
afterwards if this module started it.
"""

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from e2e_helpers import execute, run, site_lifecycle, start_server, terminal_output, wait_until

NGINX_DIR = Path("/etc/nginx")
PID_FILE = Path("/run/nginx.pid")
HOSTNAME = "hub.hn.e2e.test"
HUB_PORT = "43000"
SLUG = "jh-e2e-hn"
TAKEN_BLOCK = NGINX_DIR / "sites-enabled" / "jh-e2e-hn-taken"


def tree_state(root):
    """Every path under `root` with its type, permissions and content (or link target)."""
    state = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            state[relative] = ("link", os.readlink(path))
        elif path.is_dir():
            state[relative] = ("dir", oct(path.stat().st_mode & 0o7777))
        else:
            state[relative] = ("file", oct(path.stat().st_mode & 0o7777), hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def master_pid():
    """The running nginx master's pid, or None."""
    try:
        pid = int(PID_FILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def plain_http(host_header):
    """GET / on this machine's port 80 with a Host header; (status, Location)."""
    response = requests.get("http://127.0.0.1/", headers={"Host": host_header}, allow_redirects=False, timeout=10,
                            proxies={"http": None, "https": None})
    return response.status_code, response.headers.get("Location")


def https_refused(site):
    try:
        site.session().get(f"{site.url}/hub/api/health", timeout=10)
    except requests.ConnectionError:
        return True
    return False


@pytest.fixture(scope="module")
def host_nginx(tmp_path_factory):
    """The machine's own nginx, running; yields /etc/nginx's state before the tests.

    Afterwards /etc/nginx is put back from a copy if a failed test left it
    changed, and nginx is stopped again if it was not running before.
    """
    if shutil.which("nginx") is None:
        pytest.fail("Debian's nginx is not installed; tests/setup-system.sh installs it")
    saved = tmp_path_factory.mktemp("host-nginx") / "etc-nginx"
    shutil.copytree(NGINX_DIR, saved, symlinks=True)
    before = tree_state(NGINX_DIR)
    was_running = master_pid() is not None
    if not was_running:
        # The daemon keeps no pipe of ours open (run() would wait for it).
        subprocess.run(["nginx"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wait_until(master_pid, 30, "nginx to start")
    try:
        yield before
    finally:
        if tree_state(NGINX_DIR) != before:
            shutil.rmtree(NGINX_DIR)
            shutil.copytree(saved, NGINX_DIR, symlinks=True)
        if was_running:
            run(["nginx", "-s", "reload"], check=False)
        else:
            pid = master_pid()
            run(["nginx", "-s", "quit"], check=False)
            wait_until(lambda: pid is None or not Path(f"/proc/{pid}").exists(), 30, "nginx to stop")


@pytest.fixture(scope="module")
def host_site(tmp_path_factory, phase_times, host_nginx):
    """A host-nginx deployment: the hub publishes only 127.0.0.1:43000; nothing installed yet."""
    context = {
        "project_name": "Host nginx E2E", "project_slug": SLUG, "hostname": HOSTNAME, "authenticator": "local-trial",
        "admin_users": "admin", "allowed_users": "alice", "reverse_proxy": "host-nginx", "hub_host_port": HUB_PORT,
        "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1",
        "docker_network": "jh-e2e-hn-network", "data_volume": "jh-e2e-hn-data",
    }
    lifecycle = contextlib.contextmanager(site_lifecycle)
    with lifecycle(tmp_path_factory, phase_times, "host_nginx", context,
                   env={"USER_CONTAINER_PREFIX": "hn", "USER_VOLUME_PREFIX": "hn-user"}) as site:
        try:
            yield site
        finally:
            site.make("host-nginx-uninstall", check=False)


@pytest.fixture
def mismatched_certs(host_site, tmp_path):
    """The site's certificate with somebody else's key: nginx -t fails to load the pair."""
    shutil.copy(host_site.path / "nginx" / "certs" / "fullchain.pem", tmp_path / "fullchain.pem")
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(tmp_path / "privkey.pem")])
    return tmp_path


def make_install(site, *arguments, env=None, target="host-nginx-install"):
    return run(["make", "-C", str(site.path), target, *arguments], check=False, env=env)


def refusal_line(result, target="host-nginx-install"):
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{target}: ")]
    assert result.returncode != 0 and len(lines) == 1, (result.returncode, result.stdout, result.stderr)
    assert lines[0].endswith("the host's nginx is unchanged"), lines[0]
    return lines[0]


def test_the_hub_listens_on_loopback_only(host_site):
    ports = run(["docker", "compose", "--project-directory", str(host_site.path), "port", "hub", "8000"]).stdout.strip()
    assert ports == f"127.0.0.1:{HUB_PORT}"
    health = requests.get(f"http://127.0.0.1:{HUB_PORT}/hub/api/health", timeout=10, proxies={"http": None})
    assert health.status_code == 200


def test_install_refuses_when_nginx_is_missing(host_site, host_nginx):
    path = os.pathsep.join(entry for entry in os.environ["PATH"].split(os.pathsep)
                           if entry and not (Path(entry) / "nginx").exists())
    line = refusal_line(make_install(host_site, env={"PATH": path}))
    assert "nginx is not installed" in line
    uninstall = make_install(host_site, env={"PATH": path}, target="host-nginx-uninstall")
    assert "nginx is not installed" in refusal_line(uninstall, "host-nginx-uninstall")
    assert tree_state(NGINX_DIR) == host_nginx


def test_install_refuses_a_server_name_used_elsewhere(host_site, host_nginx):
    TAKEN_BLOCK.write_text(f"server {{\n    listen 80;\n    server_name old.example.org {HOSTNAME};\n    return 404;\n}}\n")
    try:
        with_taken_block = tree_state(NGINX_DIR)
        line = refusal_line(make_install(host_site))
        assert f"{TAKEN_BLOCK} ({HOSTNAME})" in line, line
        assert tree_state(NGINX_DIR) == with_taken_block
    finally:
        TAKEN_BLOCK.unlink()
    assert tree_state(NGINX_DIR) == host_nginx


def test_install_rolls_back_when_nginx_t_fails(host_site, host_nginx, mismatched_certs):
    pid = master_pid()
    line = refusal_line(make_install(host_site, f"TLS_CERT_DIR={mismatched_certs}"))
    assert "`nginx -t` failed after install" in line and "rolled back" in line, line
    assert tree_state(NGINX_DIR) == host_nginx
    assert master_pid() == pid, "never reloaded"
    assert plain_http(HOSTNAME)[0] == 200, "still Debian's default site"


def test_install_then_login_kernel_and_terminal(host_site, phase_times):
    result = run(["make", "-C", str(host_site.path), "host-nginx-install"])
    assert f"host-nginx-install: nginx reloaded; JupyterHub is at https://{HOSTNAME}\n" in result.stdout
    # A reload starts new workers; wait until they serve the new server block.
    wait_until(lambda: plain_http(HOSTNAME) == (308, f"https://{HOSTNAME}/"), 30, "nginx to redirect to HTTPS")
    health = host_site.session().get(f"{host_site.url}/hub/api/health", timeout=30)
    assert health.status_code == 200 and health.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert (NGINX_DIR / "certs" / SLUG / "privkey.pem").stat().st_mode & 0o777 == 0o600

    alice = host_site.login("alice")
    start_server(alice, "alice")
    assert execute(alice, "alice", "print(6*7)").strip() == "42"
    assert "terminal-42" in terminal_output(alice, "alice", "echo terminal-$((6*7))", "terminal-42")


def test_a_failed_reinstall_keeps_the_working_install(host_site, mismatched_certs):
    installed = tree_state(NGINX_DIR)
    line = refusal_line(make_install(host_site, f"TLS_CERT_DIR={mismatched_certs}"))
    assert "rolled back" in line
    assert tree_state(NGINX_DIR) == installed
    assert host_site.session().get(f"{host_site.url}/hub/api/health", timeout=30).status_code == 200


def test_uninstall_leaves_nginx_as_it_was(host_site, host_nginx):
    result = run(["make", "-C", str(host_site.path), "host-nginx-uninstall"])
    assert "host-nginx-uninstall: nginx reloaded" in result.stdout
    assert tree_state(NGINX_DIR) == host_nginx
    wait_until(lambda: plain_http(HOSTNAME)[0] == 200, 30, "Debian's default site on port 80 again")
    wait_until(lambda: https_refused(host_site), 30, "nobody to listen on port 443 any more")
    again = run(["make", "-C", str(host_site.path), "host-nginx-uninstall"])
    assert "nothing of this deployment is installed" in again.stdout
    assert subprocess.run(["nginx", "-t"], capture_output=True).returncode == 0
