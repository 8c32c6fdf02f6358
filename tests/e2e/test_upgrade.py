"""`make upgrade` across a real schema change: JupyterHub 5.5 -> the pinned 6.x, on a real Docker engine.

The site starts on JupyterHub 5.5.4 (hub stand-in built by the hub recipe with that
version, notebook stand-in tagged `hub-5.5.4`, hub/requirements.txt pinning
jupyterhub==5.5.4; DockerSpawner 14 and OAuthenticator 17 support both majors).
JupyterHub 6 adds four alembic revisions after 5.x's head 4621fec11365.
Users get files, a running server and API tokens; bad input is refused with one
line; the operator bumps the pins as after `cruft update`, runs `make upgrade`; users,
tokens and files are all there and the schema revision changed.  A first upgrade fails (its
smoke test is made to time out) and the rollback command it prints brings 5.x back.
Tests run in file order.
"""

import re
import tarfile

import pytest

from e2e_helpers import ENV_SECRETS, pins, run, set_env, site_lifecycle, wait_until
from test_backup_restore import get_file, put_file, start_server, stop_server, whoami

OLD_VERSION = "5.5.4"
OLD_HUB_IMAGE = f"quay.io/jupyterhub/jupyterhub:{OLD_VERSION}"
OLD_NOTEBOOK_IMAGE = f"quay.io/jupyter/base-notebook:hub-{OLD_VERSION}"
OLD_HEAD = "4621fec11365"  # jupyterhub/alembic/versions in 5.5.4: manage_roles
CONTEXT = {"project_name": "Up E2E", "hostname": "hub.up.e2e.test", "authenticator": "local-trial",
           "admin_users": "admin", "allowed_users": "alice bob", "notebook_image_flavor": "base-notebook",
           "mem_limit": "1G", "cpu_limit": "1", "http_port": "47080", "https_port": "47443",
           "docker_network": "jh-e2e-up-network", "data_volume": "jh-e2e-up-data"}
ENV = {"USER_CONTAINER_PREFIX": "up", "USER_VOLUME_PREFIX": "up-user",
       "JUPYTERHUB_IMAGE": OLD_HUB_IMAGE, "NOTEBOOK_IMAGE": OLD_NOTEBOOK_IMAGE}
SMOKE_ARGS = "SMOKE_ARGS=--connect-to 127.0.0.1"
REVISION = ("import sqlite3; print(sqlite3.connect('/data/jupyterhub.sqlite')"
            ".execute('select version_num from alembic_version').fetchone()[0])")


def pin_requirements(site, version):
    path = site.path / "hub" / "requirements.txt"
    text = path.read_text()
    old = next(line for line in text.splitlines() if line.startswith("jupyterhub=="))
    path.write_text(text.replace(old, f"jupyterhub=={version}"))


def schema_revision(site):
    """The alembic revision in the hub database, read beside the hub (not through it)."""
    result = run(["docker", "run", "--rm", "--network", "none", "-v", f"{CONTEXT['data_volume']}:/data:ro",
                  "--entrypoint", "python3", pins()["hub_image"], "-c", REVISION])
    return result.stdout.strip()


def hub_version(site):
    return site.compose("exec", "-T", "hub", "jupyterhub", "--version").stdout.strip()


def hub_container(site):
    return site.compose("ps", "-q", "hub").stdout.strip()


def make_upgrade(site, *args):
    return run(["make", "-C", str(site.path), "--no-print-directory", "upgrade", *args], timeout=2400, check=False)


def refused(result):
    """The single line of a refusal (make's own `***` line aside)."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert result.returncode != 0 and len(lines) == 1, (result.returncode, result.stdout[-1500:], result.stderr[-1500:])
    assert lines[0].endswith("nothing was changed"), lines
    return lines[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory, phase_times):
    yield from site_lifecycle(tmp_path_factory, phase_times, "upgrade", CONTEXT, env=ENV,
                              images=[OLD_HUB_IMAGE, OLD_NOTEBOOK_IMAGE],
                              before_up=lambda site: pin_requirements(site, OLD_VERSION))


@pytest.fixture(scope="module")
def users(site):
    """alice (server running, a file, a token) and bob (a file, a token, server stopped), made on JupyterHub 5."""
    sessions, files, tokens = {}, {}, {}
    for name in ("alice", "bob"):
        session = sessions[name] = site.login(name)
        start_server(site, session, name)
        files[name] = f"{name} wrote this on JupyterHub {OLD_VERSION}\n".encode()
        put_file(site, session, name, "before-upgrade.txt", files[name])
        response = session.post(f"{site.url}/hub/api/users/{name}/tokens", json={"note": "upgrade test"},
                                headers={"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/"), "Referer": f"{site.url}/hub/"},
                                timeout=30)
        assert response.status_code == 201, response.text
        tokens[name] = response.json()["token"]
    stop_server(site, sessions["bob"], "bob")
    return {"sessions": sessions, "files": files, "tokens": tokens}


def test_site_starts_on_jupyterhub_5(site, users):
    assert_old_site(site, users)


def test_upgrade_refuses_a_dirty_env(site, users):
    """A setting of .env.example missing from .env (as after `cruft update`): one line, nothing done."""
    before = (site.path / ".env").read_text()
    hub = hub_container(site)
    ENV_SECRETS.write_private(site.path / ".env", "".join(line for line in before.splitlines(True)
                                                          if not line.startswith("STATUS_API_TOKEN=")))
    try:
        line = refused(make_upgrade(site))
    finally:
        ENV_SECRETS.write_private(site.path / ".env", before)
    assert "STATUS_API_TOKEN" in line and "make secrets" in line, line
    assert not (site.path / "backups").exists() and hub_container(site) == hub and hub_version(site) == OLD_VERSION


def test_upgrade_refuses_half_bumped_pins(site, users):
    """JUPYTERHUB_IMAGE bumped, hub/requirements.txt not: one line, nothing done."""
    set_env(site, JUPYTERHUB_IMAGE=pins()["hub_image"])
    try:
        line = refused(make_upgrade(site))
    finally:
        set_env(site, JUPYTERHUB_IMAGE=OLD_HUB_IMAGE)
    assert pins()["hub_image"] in line and f"jupyterhub=={OLD_VERSION}" in line, line
    assert not (site.path / "backups").exists() and hub_version(site) == OLD_VERSION


def bump_pins(site):
    """What an operator does after `cruft update` brought the new pins."""
    new = pins()
    set_env(site, JUPYTERHUB_IMAGE=new["hub_image"], NOTEBOOK_IMAGE=f"quay.io/jupyter/base-notebook:{new['notebook_tag']}")
    pin_requirements(site, new["jupyterhub"])


def assert_old_site(site, users):
    assert hub_version(site) == OLD_VERSION and schema_revision(site) == OLD_HEAD
    for name, token in users["tokens"].items():
        assert whoami(site, token=token) == name, name


def test_a_failed_upgrade_prints_a_rollback_that_works(site, users):
    """The smoke test fails after the database was upgraded; the printed command brings back 5.x."""
    bump_pins(site)
    result = make_upgrade(site, "SMOKE_ARGS=--connect-to 127.0.0.1 --spawn-timeout 0")
    print(result.stdout[-3000:], result.stderr[-2000:])
    assert result.returncode != 0
    assert "upgrade FAILED: make smoke failed" in result.stderr, result.stderr
    command = re.search(r"^upgrade: roll back with `(make restore FILE=(\S+) FORCE=1)`", result.stderr, re.MULTILINE)
    assert command, result.stderr
    assert schema_revision(site) != OLD_HEAD and hub_version(site) == pins()["jupyterhub"]

    restore = run(["make", "-C", str(site.path), "--no-print-directory", "restore", f"FILE={command.group(2)}", "FORCE=1"],
                  timeout=1800, check=False)
    assert restore.returncode == 0, (restore.stdout[-3000:], restore.stderr[-3000:])
    site.env = ENV_SECRETS.parse_env((site.path / ".env").read_text())
    assert site.env["JUPYTERHUB_IMAGE"] == OLD_HUB_IMAGE and site.env["NOTEBOOK_IMAGE"] == OLD_NOTEBOOK_IMAGE
    assert f"jupyterhub=={OLD_VERSION}" in (site.path / "hub" / "requirements.txt").read_text()
    assert_old_site(site, users)
    # The restore stopped the user servers; alice starts hers again on JupyterHub 5.
    start_server(site, users["sessions"]["alice"], "alice")
    assert get_file(site, users["sessions"]["alice"], "alice", "before-upgrade.txt") == users["files"]["alice"]


def test_make_upgrade_across_the_schema_change(site, users):
    new = pins()
    bump_pins(site)
    result = make_upgrade(site, SMOKE_ARGS)
    print(result.stdout[-4000:], result.stderr[-2000:])
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    out = result.stdout
    assert f"upgrade: JUPYTERHUB_IMAGE: {OLD_HUB_IMAGE} -> {new['hub_image']}" in out
    assert f"upgrade: hub/requirements.txt: jupyterhub=={OLD_VERSION} -> jupyterhub=={new['jupyterhub']}" in out
    revision_line = next(line for line in out.splitlines() if line.startswith("upgrade: database schema revision"))
    print(revision_line)
    assert revision_line.startswith(f"upgrade: database schema revision {OLD_HEAD} -> ")
    assert "smoke: all steps passed" in out and "upgrade: done in" in out
    for secret in (site.env["TRIAL_PASSWORD"], site.env["STATUS_API_TOKEN"], *users["tokens"].values()):
        assert secret not in out + result.stderr

    new_revision = schema_revision(site)
    assert new_revision != OLD_HEAD and revision_line.endswith(f" -> {new_revision}")
    assert hub_version(site) == new["jupyterhub"]

    # The backup holds the site as it ran: the old pins, for `make restore ... FORCE=1`.
    archive = re.search(r"^upgrade: backed up the site as it runs \(old pins\) to (\S+)$", out, re.MULTILINE).group(1)
    with tarfile.open(archive) as tar:
        archived_env = ENV_SECRETS.parse_env(tar.extractfile("files/.env").read().decode())
        archived_requirements = tar.extractfile("files/hub/requirements.txt").read().decode()
    assert archived_env["JUPYTERHUB_IMAGE"] == OLD_HUB_IMAGE and archived_env["NOTEBOOK_IMAGE"] == OLD_NOTEBOOK_IMAGE
    assert f"jupyterhub=={OLD_VERSION}" in archived_requirements


def test_users_tokens_and_files_survive(site, users):
    for name, token in users["tokens"].items():
        assert whoami(site, token=token) == name, name
    alice = users["sessions"]["alice"]
    # alice's server ran through the upgrade (user servers are not stopped) and still answers.
    model = alice.get(f"{site.url}/hub/api/users/alice", timeout=30).json()
    assert (model["servers"].get("") or {}).get("ready"), model
    assert get_file(site, alice, "alice", "before-upgrade.txt") == users["files"]["alice"]
    # Restarted on the new notebook image, and bob's first start after the upgrade: files there.
    stop_server(site, alice, "alice")
    for name in ("alice", "bob"):
        session = site.login(name)
        start_server(site, session, name)
        assert get_file(site, session, name, "before-upgrade.txt") == users["files"][name], name
    image = run(["docker", "inspect", "-f", "{{.Config.Image}}", "up-alice"]).stdout.strip()
    assert image == site.env["NOTEBOOK_IMAGE"]


def test_upgrade_refuses_when_the_site_is_down(site, users):
    site.compose("stop", "hub", "nginx")
    wait_until(lambda: not site.compose("ps", "-q", "--status", "running", "hub").stdout.strip(), 60, "the hub to stop")
    backups_before = sorted((site.path / "backups").glob("*"))
    line = refused(make_upgrade(site))
    assert "the site is down" in line and "make up" in line, line
    assert sorted((site.path / "backups").glob("*")) == backups_before
    assert not site.compose("ps", "-q", "--status", "running", "hub").stdout.strip()
