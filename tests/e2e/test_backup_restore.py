"""`make backup` / `make restore` and the PostgreSQL database, on a real Docker engine.

One stack per database (PostgreSQL first, then SQLite), shared by the tests of
this module, which run in file order:
core scenario on PostgreSQL (login, spawn, persistence across `make down && make up`);
users with files, a running server and an API token; `make backup`; bad archives
refused before anything is touched; the stack and all its volumes destroyed; a fresh
copy of the generated repo (same answers, no .env) restored with `make restore`;
every file byte for byte, logins, old sessions and API tokens working; FORCE=1
replacing a live site.
"""

import base64
import io
import json
import os
import re
import tarfile
import time
import uuid

import pytest

from e2e_helpers import Deployment, docker_names, generate, pins, run, site_lifecycle, wait_until
from template_helpers import PROJECT_TEMPLATE, load_module

BACKUP = load_module(PROJECT_TEMPLATE / "scripts" / "backup.py", "backup_script")

SITES = {
    "postgresql": dict(
        context={"project_name": "PG Backup E2E", "hostname": "hub.pg.bk.e2e.test", "database": "postgresql",
                 "http_port": "42080", "https_port": "42443",
                 "docker_network": "jh-e2e-pg-network", "data_volume": "jh-e2e-pg-data"},
        env={"USER_CONTAINER_PREFIX": "pg", "USER_VOLUME_PREFIX": "pg-user"},
    ),
    "sqlite": dict(
        context={"project_name": "BK Backup E2E", "hostname": "hub.sqlite.bk.e2e.test", "database": "sqlite",
                 "http_port": "42081", "https_port": "42444",
                 "docker_network": "jh-e2e-bk-network", "data_volume": "jh-e2e-bk-data"},
        env={"USER_CONTAINER_PREFIX": "bk", "USER_VOLUME_PREFIX": "bk-user"},
    ),
}
COMMON = {"authenticator": "local-trial", "admin_users": "admin", "allowed_users": "alice bob",
          "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1"}

# Every file of a volume: relative path -> [sha256, uid, gid, mode]; run in a container of the hub image.
CHECKSUMS = (
    "import hashlib, json, os\n"
    "found = {}\n"
    "for parent, folders, files in os.walk('/volume'):\n"
    "    for name in folders + files:\n"
    "        path = os.path.join(parent, name)\n"
    "        info = os.lstat(path)\n"
    "        regular = os.path.isfile(path) and not os.path.islink(path)\n"
    "        digest = hashlib.sha256(open(path, 'rb').read()).hexdigest() if regular else 'dir-or-link'\n"
    "        found[os.path.relpath(path, '/volume')] = [digest, info.st_uid, info.st_gid, oct(info.st_mode)]\n"
    "print(json.dumps(found))\n"
)


def volume_files(volume):
    result = run(["docker", "run", "--rm", "--network", "none", "-v", f"{volume}:/volume:ro", "--entrypoint", "python3",
                  pins()["hub_image"], "-c", CHECKSUMS])
    return json.loads(result.stdout)


def headers(site, session, server=None):
    path = f"/user/{server}/" if server else "/hub/"
    return {"X-XSRFToken": session.cookies.get("_xsrf", path=path) or "", "Referer": f"{site.url}{path}"}


def user_model(site, session, name):
    response = session.get(f"{site.url}/hub/api/users/{name}", timeout=30)
    response.raise_for_status()
    return response.json()


def start_server(site, session, name):
    """Start (if needed) and open a user's server through the hub's OAuth handshake."""
    if not (user_model(site, session, name)["servers"].get("") or {}).get("ready"):
        response = session.post(f"{site.url}/hub/api/users/{name}/server", headers=headers(site, session), timeout=60)
        assert response.status_code in (201, 202), (response.status_code, response.text)
        wait_until(lambda: (user_model(site, session, name)["servers"].get("") or {}).get("ready"), 300, f"{name}'s server")
    page = session.get(f"{site.url}/user/{name}/lab", timeout=60)
    assert page.status_code == 200 and page.url.startswith(f"{site.url}/user/{name}/"), (page.status_code, page.url)


def stop_server(site, session, name):
    response = session.delete(f"{site.url}/hub/api/users/{name}/server", headers=headers(site, session), timeout=60)
    assert response.status_code in (202, 204), response.text
    wait_until(lambda: not user_model(site, session, name)["servers"], 120, f"{name}'s server to stop")


def put_file(site, session, name, path, data):
    body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    response = session.put(f"{site.url}/user/{name}/api/contents/{path}", json=body, headers=headers(site, session, name), timeout=120)
    assert response.status_code in (200, 201), response.text


def get_file(site, session, name, path):
    response = session.get(f"{site.url}/user/{name}/api/contents/{path}?format=base64&type=file", timeout=120)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return base64.b64decode(response.json()["content"])


def whoami(site, session=None, token=None):
    client = session or site.session()
    response = client.get(f"{site.url}/hub/api/user", timeout=30,
                          headers={"Authorization": f"token {token}"} if token else {})
    return response.json().get("name") if response.status_code == 200 else response.status_code


def hub_is_healthy(site):
    container = site.compose("ps", "-q", "hub").stdout.strip()
    return container and run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container]).stdout.strip() == "healthy"


def make_restore(site, *args, check=False):
    return run(["make", "-C", str(site.path), "--no-print-directory", "restore", *args], timeout=1500, check=check)


def one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert result.returncode != 0 and len(lines) == 1, (result.returncode, result.stdout[-1500:], result.stderr[-1500:])
    return lines[0]


@pytest.fixture(scope="module", params=list(SITES))
def stack(request, tmp_path_factory, phase_times):
    """The site of one database, and a notebook of what the tests found (shared in file order)."""
    database = request.param
    spec = SITES[database]
    context = {**COMMON, **spec["context"]}
    db_volume = context["data_volume"] + "-postgres"
    state = {"database": database, "context": context, "env": spec["env"], "db_volume": db_volume,
             "tmp": tmp_path_factory.mktemp(f"restore-{database}")}
    images = [pins()["postgres_image"]] if database == "postgresql" else []
    for site in site_lifecycle(tmp_path_factory, phase_times, f"backup_{database}", context, env=spec["env"], images=images):
        state["site"] = site
        yield state


@pytest.fixture(scope="module")
def users(stack):
    """alice (server running, a text file, 3 MB of random bytes, an API token) and bob (a file, server stopped)."""
    site = stack["site"]
    alice, bob = site.login("alice"), site.login("bob")
    start_server(site, alice, "alice")
    files = {"alice": {"persist.txt": f"persist-{uuid.uuid4().hex}\n".encode(), "data/random.bin": os.urandom(3 * 1024 * 1024)},
             "bob": {"bob.txt": f"bob-{uuid.uuid4().hex}\n".encode()}}
    alice.put(f"{site.url}/user/alice/api/contents/data", json={"type": "directory"}, headers=headers(site, alice, "alice"), timeout=60)
    for path, data in files["alice"].items():
        put_file(site, alice, "alice", path, data)
    start_server(site, bob, "bob")
    put_file(site, bob, "bob", "bob.txt", files["bob"]["bob.txt"])
    stop_server(site, bob, "bob")
    created = alice.post(f"{site.url}/hub/api/users/alice/tokens", headers=headers(site, alice), json={"note": "backup test"}, timeout=30)
    assert created.status_code == 201, created.text
    return {"alice": alice, "bob": bob, "files": files, "token": created.json()["token"]}


def test_core_scenario_on_postgresql(stack):
    """Login, spawn and persistence across `make down && make up`, with the hub's state in PostgreSQL."""
    if stack["database"] != "postgresql":
        pytest.skip("the core scenario on SQLite is tests/e2e/test_deployment.py")
    site = stack["site"]
    alice = site.login("alice")
    start_server(site, alice, "alice")
    content = f"core-{uuid.uuid4().hex}".encode()
    put_file(site, alice, "alice", "core.txt", content)
    site.make("down")
    site.make("up")
    assert hub_is_healthy(site)
    names = site.compose("exec", "-T", "db", "psql", "--username=jupyterhub", "--dbname=jupyterhub", "-tAc",
                         "select name from users order by name").stdout.split()
    assert "alice" in names, names
    data_files = volume_files(stack["context"]["data_volume"])
    assert not [name for name in data_files if name.endswith(".sqlite")], "no SQLite database beside PostgreSQL"
    alice = site.login("alice")
    start_server(site, alice, "alice")
    assert get_file(site, alice, "alice", "core.txt") == content
    # `make smoke` (run by `make upgrade` too) makes its token in the PostgreSQL database.
    smoke = site.make("smoke", "SMOKE_ARGS=--connect-to 127.0.0.1", timeout=600)
    assert "smoke: all steps passed" in smoke.stdout


def test_make_backup_writes_one_private_archive(stack, users, phase_times):
    site, database = stack["site"], stack["database"]
    prefix = stack["env"]["USER_VOLUME_PREFIX"]
    stack["volumes_before"] = {volume: volume_files(volume) for volume in (f"{prefix}-alice", f"{prefix}-bob")}
    stack["cookie_secret"] = volume_files(stack["context"]["data_volume"])["jupyterhub_cookie_secret"]
    started = time.monotonic()
    result = site.make("backup", timeout=1200)
    phase_times[f"backup_{database}_make_backup"] = round(time.monotonic() - started, 1)
    archives = list((site.path / "backups").iterdir())
    assert len(archives) == 1 and re.fullmatch(r"[a-z0-9-]+-\d{8}T\d{6}Z\.tar", archives[0].name), archives
    archive = stack["archive"] = archives[0]
    assert archive.stat().st_mode & 0o777 == 0o600
    assert f"backup: wrote {archive}" in result.stdout and "keep it private" in result.stdout
    for volume in (f"{prefix}-alice", f"{prefix}-bob", stack["context"]["data_volume"]):
        assert f"backup: volume {volume}: " in result.stdout and ", done" in result.stdout, result.stdout
    for key in ("TRIAL_PASSWORD", "CONFIGPROXY_AUTH_TOKEN"):
        assert site.env[key] not in result.stdout + result.stderr

    manifest = BACKUP.read_manifest(archive)
    assert manifest["identity"] == {"compose_project": site.path.name, "database": database,
                                    "data_volume": stack["context"]["data_volume"], "user_volume_prefix": prefix}
    expected = {"files/.env", "files/userlist", "certs/tls/fullchain.pem", "certs/tls/privkey.pem", "certs/test-ca/ca.crt",
                "volumes/data.tar", f"volumes/users/{prefix}-alice.tar", f"volumes/users/{prefix}-bob.tar"}
    expected |= {"database/postgres.sql"} if database == "postgresql" else set()
    assert expected <= set(manifest["members"]), sorted(manifest["members"])
    with tarfile.open(archive) as tar:
        assert tar.extractfile("files/.env").read() == (site.path / ".env").read_bytes()
        with tarfile.open(fileobj=io.BytesIO(tar.extractfile("volumes/data.tar").read())) as data:
            names = data.getnames()
        if database == "postgresql":
            dump = tar.extractfile("database/postgres.sql").read().decode()
            assert "PostgreSQL database dump" in dump and "CREATE TABLE public.users" in dump
        else:
            assert "jupyterhub.sqlite" in names and not [name for name in names if name.endswith("-journal")]
    assert "jupyterhub_cookie_secret" in names


def test_bad_archives_are_refused_before_anything_is_touched(stack):
    site, archive, tmp = stack["site"], stack["archive"], stack["tmp"]
    env_before = (site.path / ".env").read_bytes()
    server_before = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", f"{stack['env']['USER_CONTAINER_PREFIX']}-alice"]).stdout

    truncated = tmp / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    corrupt = tmp / "corrupt.tar"
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        member = tar.getmember(f"volumes/users/{stack['env']['USER_VOLUME_PREFIX']}-alice.tar")
    data[member.offset_data + member.size // 2] ^= 0x01  # one bit, in the middle of alice's files
    corrupt.write_bytes(bytes(data))
    other = tmp / "other-deployment.tar"
    with tarfile.open(archive) as source, tarfile.open(other, mode="w") as tar:
        writer = BACKUP.ArchiveWriter(tar, tmp)
        for member in source.getmembers():
            if member.name != "manifest.json":
                writer.add_bytes(member.name, source.extractfile(member).read())
        writer.add_manifest({**BACKUP.read_manifest(archive)["identity"], "compose_project": "another-hub-deploy"})

    cases = [
        (tmp / "missing.tar", "no such file"),
        (truncated, "truncated"),
        (corrupt, "does not match its sha256 in the manifest: the archive is corrupt"),
        (other, "it is from another deployment (compose_project 'another-hub-deploy'"),
        (archive, "this site is live ("),
    ]
    for path, message in cases:
        line = one_error_line(make_restore(site, f"FILE={path}"))
        assert line.startswith(f"restore: {path}: ") and message in line and line.endswith("nothing was changed"), line
    assert "FORCE=1 replaces it" in one_error_line(make_restore(site, f"FILE={archive}"))

    assert (site.path / ".env").read_bytes() == env_before
    assert hub_is_healthy(site)
    server_after = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", f"{stack['env']['USER_CONTAINER_PREFIX']}-alice"]).stdout
    assert server_after == server_before, "alice's server kept running"


def test_restore_into_a_fresh_copy_brings_everything_back(stack, users, phase_times):
    site, archive, database = stack["site"], stack["archive"], stack["database"]
    context, prefix = stack["context"], stack["env"]["USER_VOLUME_PREFIX"]
    started = time.monotonic()
    site.make("down")
    servers = run(["docker", "ps", "-aq", "--filter", f"network={context['docker_network']}"]).stdout.split()
    if servers:
        run(["docker", "rm", "-f", *servers])
    doomed = [name for name in docker_names("volume")
              if name in (context["data_volume"], stack["db_volume"]) or name.startswith(prefix + "-")]
    run(["docker", "volume", "rm", *doomed])
    run(["docker", "network", "rm", context["docker_network"]])
    assert not [name for name in docker_names("volume") if name.startswith(prefix + "-") or name.startswith(context["data_volume"])]
    phase_times[f"backup_{database}_destroy"] = round(time.monotonic() - started, 1)

    # A fresh copy of the deployment repo: generated with the same answers, without .env (git ignores it).
    fresh = generate(stack["tmp"] / "fresh", context)
    (fresh.path / ".env").unlink()
    assert not (fresh.path / "nginx" / "certs").exists()
    started = time.monotonic()
    result = make_restore(fresh, f"FILE={archive}", check=True)
    phase_times[f"backup_{database}_restore"] = round(time.monotonic() - started, 1)
    assert f"restore: volume {prefix}-alice: " in result.stdout and "up: JupyterHub is at" in result.stdout, result.stdout[-2000:]
    restored = Deployment(fresh.path)
    stack["restored"] = restored

    assert (fresh.path / ".env").read_bytes() == (site.path / ".env").read_bytes()
    assert (fresh.path / ".env").stat().st_mode & 0o777 == 0o600
    for relative in ("userlist", "nginx/certs/fullchain.pem", "nginx/certs/privkey.pem", "nginx/test-ca/ca.crt"):
        assert (fresh.path / relative).read_bytes() == (site.path / relative).read_bytes(), relative
    assert (fresh.path / "nginx/certs/privkey.pem").stat().st_mode & 0o777 == (site.path / "nginx/certs/privkey.pem").stat().st_mode & 0o777
    for volume, files in stack["volumes_before"].items():
        assert volume_files(volume) == files, f"{volume} differs from the backup"
    assert volume_files(context["data_volume"])["jupyterhub_cookie_secret"] == stack["cookie_secret"]

    assert whoami(restored, token=users["token"]) == "alice", "alice's API token"
    assert whoami(restored, session=users["alice"]) == "alice", "alice's session from before the backup"
    alice = restored.login("alice")
    start_server(restored, alice, "alice")
    for path, data in users["files"]["alice"].items():
        assert get_file(restored, alice, "alice", path) == data
    put_file(restored, alice, "alice", "after-restore.txt", b"written after the restore\n")
    bob = restored.login("bob")
    start_server(restored, bob, "bob")
    assert get_file(restored, bob, "bob", "bob.txt") == users["files"]["bob"]["bob.txt"]


def test_force_restore_replaces_a_live_site(stack, users):
    """The roll-back case: the site runs and has changed since the backup; FORCE=1 puts the backup back."""
    if stack["database"] != "sqlite":
        pytest.skip("run once, on the SQLite stack; PostgreSQL's restore path is the fresh copy above")
    restored, archive = stack["restored"], stack["archive"]
    alice = restored.login("alice")
    start_server(restored, alice, "alice")
    put_file(restored, alice, "alice", "persist.txt", b"changed after the backup\n")
    result = make_restore(restored, f"FILE={archive}", "FORCE=1", check=True)
    assert "up: JupyterHub is at" in result.stdout
    prefix = stack["env"]["USER_VOLUME_PREFIX"]
    assert volume_files(f"{prefix}-alice") == stack["volumes_before"][f"{prefix}-alice"]
    assert whoami(restored, token=users["token"]) == "alice"
    alice = restored.login("alice")
    start_server(restored, alice, "alice")
    assert get_file(restored, alice, "alice", "persist.txt") == users["files"]["alice"]["persist.txt"]
