"""What an operator and users do with a generated deployment, on a real Docker engine.

The tests run in file order and share one deployment (local-trial login, nginx
container on HTTPS port 18443, stand-in images when the pinned ones cannot be pulled).
"""

import json
import time
import uuid

import pytest

from e2e_helpers import (
    HOSTNAME,
    HTTP_PORT,
    NETWORK,
    PUBLIC_URL,
    VOLUME,
    docker_names,
    execute,
    open_server,
    run,
    server_headers,
    start_server,
    terminal_output,
    user_model,
    wait_until,
    xsrf_headers,
)


def read_persisted_file(alice):
    """Open alice's server (starting it if the hub no longer runs it) and read persist.txt."""
    if (user_model(alice, "alice")["servers"].get("") or {}).get("ready"):
        open_server(alice, "alice")
    else:
        start_server(alice, "alice")
    got = alice.get(f"{PUBLIC_URL}/user/alice/api/contents/persist.txt", timeout=60)
    assert got.status_code == 200, got.status_code
    return got.json()["content"]


@pytest.fixture(scope="module")
def alice(deployment, phase_times):
    """alice logged in through the form, her server started and opened through the hub's OAuth."""
    session = deployment.login("alice")
    started = time.monotonic()
    start_server(session, "alice")
    phase_times["core_first_spawn"] = round(time.monotonic() - started, 1)
    return session


@pytest.fixture(scope="module")
def alice_file(alice):
    """The content of persist.txt, written once into alice's volume; later tests read it back."""
    content = f"persist-{uuid.uuid4().hex}"
    put = alice.put(f"{PUBLIC_URL}/user/alice/api/contents/persist.txt", headers=server_headers(alice, "alice"),
                    json={"type": "file", "format": "text", "content": content}, timeout=60)
    assert put.status_code in (200, 201), put.text
    return content


def test_http_redirects_to_https_with_hsts(deployment):
    session = deployment.session()
    response = session.get(f"http://{HOSTNAME}:{HTTP_PORT}/hub/home?x=1", allow_redirects=False, timeout=30)
    assert response.status_code == 308
    assert response.headers["Location"] == f"{PUBLIC_URL}/hub/home?x=1"
    health = session.get(f"{PUBLIC_URL}/hub/api/health", timeout=30)
    assert health.status_code == 200
    assert health.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert health.headers["Server"] == "nginx"  # server_tokens off: no version
    csp = session.get(f"{PUBLIC_URL}/hub/login", timeout=30).headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp or "frame-ancestors 'none'" in csp, csp  # 'self' or stricter


@pytest.mark.parametrize("path", ["/hub/home", "/hub/admin", "/user/alice/"])
def test_unauthenticated_requests_go_to_login(deployment, path):
    response = deployment.session().get(f"{PUBLIC_URL}{path}", timeout=30)
    assert response.url.startswith(f"{PUBLIC_URL}/hub/login"), response.url
    assert 'name="password"' in response.text


def test_wrong_password_and_unlisted_user_are_refused(deployment):
    session = deployment.session()
    session.get(f"{PUBLIC_URL}/hub/login", timeout=30)
    for username, password in (("alice", "wrong-password-123"), ("mallory", deployment.env["TRIAL_PASSWORD"])):
        response = session.post(f"{PUBLIC_URL}/hub/login", allow_redirects=False, timeout=30,
                                data={"username": username, "password": password, "_xsrf": session.cookies.get("_xsrf", path="/hub/")})
        assert response.status_code == 403, (username, response.status_code)


def test_login_spawn_kernel_and_terminal(alice):
    containers = run(["docker", "ps", "--filter", f"network={NETWORK}", "--format", "{{.Names}}"]).stdout.split()
    assert "jupyter-alice" in containers
    assert "jupyterhub-user-alice" in docker_names("volume")
    inspect = json.loads(run(["docker", "inspect", "jupyter-alice"]).stdout)[0]
    assert inspect["HostConfig"]["Memory"] == 1024**3
    host = inspect["HostConfig"]
    cores = host["NanoCpus"] / 1e9 if host["NanoCpus"] else host["CpuQuota"] / host["CpuPeriod"]
    assert cores == 1.0
    assert "no-new-privileges:true" in inspect["HostConfig"]["SecurityOpt"]
    mounts = {mount.get("Name") or mount["Source"]: mount["Destination"] for mount in inspect["Mounts"]}
    assert mounts == {"jupyterhub-user-alice": "/home/jovyan/work"}, "no Docker socket, no hub data volume"

    assert execute(alice, "alice", "print(6*7)").strip() == "42"

    seen = terminal_output(alice, "alice", "echo terminal-$((6*7))", "terminal-42")
    assert "terminal-42" in seen


def test_users_cannot_reach_each_other_or_the_admin_api(deployment):
    bob = deployment.login("bob")
    response = bob.get(f"{PUBLIC_URL}/user/alice/lab", allow_redirects=True, timeout=60)
    assert response.status_code == 403 or response.url.startswith(f"{PUBLIC_URL}/user/bob/"), (response.status_code, response.url)
    assert bob.get(f"{PUBLIC_URL}/hub/api/users", timeout=30).status_code == 403
    assert bob.get(f"{PUBLIC_URL}/hub/api/users/alice", timeout=30).status_code == 404  # not even visible


def test_tokens_in_urls_are_refused(deployment, alice):
    """A token works in the Authorization header only, never in a URL (it would leak into logs)."""
    created = alice.post(f"{PUBLIC_URL}/hub/api/users/alice/tokens", headers=xsrf_headers(alice), json={"expires_in": 600}, timeout=30)
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    anonymous = deployment.session()
    headers = {"Authorization": f"token {token}"}
    assert anonymous.get(f"{PUBLIC_URL}/hub/api/user", headers=headers, timeout=30).status_code == 200
    assert anonymous.get(f"{PUBLIC_URL}/user/alice/api/status", headers=headers, timeout=30).status_code == 200
    assert anonymous.get(f"{PUBLIC_URL}/hub/api/user?token={token}", timeout=30).status_code == 403
    in_url = anonymous.get(f"{PUBLIC_URL}/user/alice/api/status?token={token}", allow_redirects=False, timeout=30)
    assert in_url.status_code in (302, 403), in_url.status_code


def test_admins_may_open_users_servers_when_chosen(deployment, alice):
    """The default answer (yes, as in the 2017 recipe): the admin role includes access:servers."""
    admin = deployment.login("admin", deployment.env["TRIAL_ADMIN_PASSWORD"])
    open_server(admin, "alice")
    assert admin.get(f"{PUBLIC_URL}/user/alice/api/status", timeout=60).status_code == 200


def test_work_survives_make_down_and_up(deployment, alice_file):
    deployment.make("down")
    assert NETWORK in docker_names("network") and VOLUME in docker_names("volume"), "make down keeps external resources"
    deployment.make("up")
    admin = deployment.login("admin", deployment.env["TRIAL_ADMIN_PASSWORD"])
    assert "alice" in {user["name"] for user in admin.get(f"{PUBLIC_URL}/hub/api/users", timeout=30).json()}
    assert read_persisted_file(deployment.login("alice")) == alice_file


def test_hub_restart_keeps_user_servers(deployment, alice_file):
    alice = deployment.login("alice")
    assert read_persisted_file(alice) == alice_file
    before = run(["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", "jupyter-alice"]).stdout.strip()
    deployment.compose("restart", "hub")
    wait_until(lambda: "healthy" in run(["docker", "inspect", "-f", "{{.State.Health.Status}}",
                                          deployment.compose("ps", "-q", "hub").stdout.strip()]).stdout, 180, "the hub")

    def reachable():
        response = alice.get(f"{PUBLIC_URL}/user/alice/api/contents/persist.txt", timeout=30)
        return response.status_code == 200 and response.json()["content"] == alice_file

    wait_until(reachable, 120, "alice's server through nginx after the hub restart")
    after = run(["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", "jupyter-alice"]).stdout.strip()
    assert before == after, "no new spawn"


def test_make_smoke(deployment):
    result = deployment.make("smoke", "SMOKE_ARGS=--connect-to 127.0.0.1", timeout=600)
    assert "smoke: all steps passed" in result.stdout
    assert deployment.env["CONFIGPROXY_AUTH_TOKEN"] not in result.stdout + result.stderr


def test_secrets_stay_out_of_logs_and_the_cookie_secret_is_private(deployment):
    logs = deployment.logs() + deployment.make("ps").stdout
    for key in ("CONFIGPROXY_AUTH_TOKEN", "TRIAL_PASSWORD", "TRIAL_ADMIN_PASSWORD"):
        assert deployment.env[key] not in logs, key
    mode = deployment.compose("exec", "-T", "hub", "stat", "-c", "%a", "/data/jupyterhub_cookie_secret").stdout.strip()
    assert mode == "600"


def test_rotate_secrets_logs_everyone_out_and_keeps_data(deployment, alice_file):
    old_session = deployment.login("alice")
    old_env = dict(deployment.env)
    result = deployment.make("rotate-secrets")
    for key in ("CONFIGPROXY_AUTH_TOKEN", "TRIAL_PASSWORD", "TRIAL_ADMIN_PASSWORD"):
        assert old_env[key] not in result.stdout + result.stderr
    deployment.make("up")
    deployment.__init__(deployment.path)  # re-read .env
    assert deployment.env["CONFIGPROXY_AUTH_TOKEN"] != old_env["CONFIGPROXY_AUTH_TOKEN"]
    stale = old_session.get(f"{PUBLIC_URL}/hub/api/user", timeout=30)
    assert stale.status_code == 403, "the old cookie must no longer work"
    assert read_persisted_file(deployment.login("alice")) == alice_file
