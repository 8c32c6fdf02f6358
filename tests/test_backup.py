"""scripts/backup.py of the generated repo, without a Docker engine: the volume format,
the SQLite snapshot, archive checks, identity, progress, and `make restore` refusing bad input."""

import io
import os
import sqlite3
import subprocess
import tarfile

import pytest

from template_helpers import PROJECT_TEMPLATE, bake_ok, load_module


@pytest.fixture(scope="module")
def backup_module():
    return load_module(PROJECT_TEMPLATE / "scripts" / "backup.py", "backup")


SITE = {"compose_project": "lab-deploy", "database": "sqlite", "data_volume": "lab-data", "user_volume_prefix": "lab-user"}


def write_archive(backup_module, path, members, site=SITE):
    with tarfile.open(path, mode="w") as tar:
        writer = backup_module.ArchiveWriter(tar, path.parent)
        for name, data in members.items():
            writer.add_bytes(name, data)
        writer.add_manifest(site)
    return path


def test_volume_round_trip_keeps_bytes_modes_owners_and_links(backup_module, tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    (source / "work" / "deep").mkdir(parents=True)
    (source / "work" / "deep" / "data.bin").write_bytes(os.urandom(300_000))
    (source / "notes.txt").write_text("hello\n")
    (source / "link").symlink_to("notes.txt")
    os.chmod(source / "notes.txt", 0o640)
    os.chown(source / "work", 1000, 100)
    stream = io.BytesIO()
    backup_module.export_volume(source, stream)
    stream.seek(0)
    target.mkdir()
    backup_module.import_volume(target, stream)
    for relative in ("work/deep/data.bin", "notes.txt"):
        assert (target / relative).read_bytes() == (source / relative).read_bytes()
    assert os.readlink(target / "link") == "notes.txt"
    assert (target / "notes.txt").stat().st_mode & 0o777 == 0o640
    assert ((target / "work").stat().st_uid, (target / "work").stat().st_gid) == (1000, 100)
    assert backup_module.volume_size(target) == backup_module.volume_size(source)


def test_sqlite_is_copied_through_the_backup_api_not_as_a_file(backup_module, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    live = sqlite3.connect(data / "jupyterhub.sqlite")
    live.execute("create table users (name text)")
    live.execute("insert into users values ('alice')")
    live.commit()
    live.execute("begin immediate")  # a writer is in the middle of a transaction
    live.execute("insert into users values ('uncommitted')")
    (data / "jupyterhub_cookie_secret").write_bytes(b"secret")
    os.chmod(data / "jupyterhub_cookie_secret", 0o600)
    stream = io.BytesIO()
    backup_module.export_volume(data, stream, snapshot_sqlite_files=True)
    live.rollback()
    live.close()
    stream.seek(0)
    with tarfile.open(fileobj=stream) as snapshot:
        names = snapshot.getnames()
    assert "jupyterhub.sqlite-journal" not in names and "jupyterhub_cookie_secret" in names
    stream.seek(0)
    restored = tmp_path / "restored"
    restored.mkdir()
    backup_module.import_volume(restored, stream)
    rows = sqlite3.connect(restored / "jupyterhub.sqlite").execute("select name from users").fetchall()
    assert rows == [("alice",)]
    assert (restored / "jupyterhub_cookie_secret").stat().st_mode & 0o777 == 0o600


def test_a_good_archive_passes(backup_module, tmp_path):
    path = write_archive(backup_module, tmp_path / "good.tar", {"files/.env": b"A=1\n", "volumes/data.tar": os.urandom(5000)})
    manifest = backup_module.read_manifest(path)
    assert manifest["identity"] == SITE
    assert set(manifest["members"]) == {"files/.env", "volumes/data.tar"}
    assert len(manifest["members"]["files/.env"]["sha256"]) == 64


def corrupted(path):
    data = bytearray(path.read_bytes())
    data[700] ^= 0xFF  # inside the first member's data (after its 512-byte header)
    path.write_bytes(bytes(data))


def truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def not_a_tar(path):
    path.write_bytes(b"this is not an archive\n" * 100)


def extra_member(path):
    with tarfile.open(path, mode="a") as tar:
        info = tarfile.TarInfo("files/extra")
        tar.addfile(info, io.BytesIO(b""))


@pytest.mark.parametrize("damage, message", [
    (corrupted, "does not match its sha256"),
    (truncated, "truncated"),
    (not_a_tar, "truncated or corrupt"),
    (extra_member, "not in the manifest"),
])
def test_damaged_archives_are_refused_with_one_line(backup_module, tmp_path, damage, message):
    path = write_archive(backup_module, tmp_path / "a.tar", {"files/.env": b"A=1\n" * 200, "volumes/data.tar": os.urandom(50_000)})
    damage(path)
    with pytest.raises(backup_module.BackupError) as error:
        backup_module.read_manifest(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_identity_decides_which_deployment_an_archive_belongs_to(backup_module):
    mismatch = backup_module.identity_mismatch
    assert mismatch(SITE, dict(SITE), has_env=True) is None
    assert "compose_project" in mismatch(SITE, {**SITE, "compose_project": "other-deploy"}, has_env=True)
    assert "database" in mismatch(SITE, {**SITE, "database": "postgresql"}, has_env=False)
    other_prefix = {**SITE, "user_volume_prefix": "jupyterhub-user"}
    assert "user_volume_prefix" in mismatch(SITE, other_prefix, has_env=True)
    # A fresh clone has no .env: the archive brings the prefix and the volume names.
    assert mismatch(SITE, other_prefix, has_env=False) is None


def test_progress_lines(backup_module):
    now = [0.0]
    out = io.StringIO()
    progress = backup_module.Progress("backup: volume v", 10 * 1024**2, out=out, interval=2, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 1
        progress.update(1024**2)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "backup: volume v: 2.0 MiB of 10.0 MiB (20%)"
    assert len(lines) == 6 and lines[-1] == "backup: volume v: 10.0 MiB, done"


@pytest.fixture(scope="module")
def generated(cookies_session):
    return bake_ok(cookies_session, {"project_slug": "bad-input-deploy"})


def make_restore(project, *args):
    return subprocess.run(["make", "-C", str(project), "--no-print-directory", "restore", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    ((), "restore: give the archive: make restore FILE=backups/<name>.tar; nothing was changed"),
    (("FILE=backups/missing.tar",), "restore: backups/missing.tar: no such file; nothing was changed"),
])
def test_make_restore_without_a_usable_file_says_one_line(generated, args, message):
    before = (generated / ".env").read_bytes()
    result = make_restore(generated, *args)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert errors == [message]
    assert (generated / ".env").read_bytes() == before


def test_make_restore_refuses_another_deployments_archive(backup_module, generated, tmp_path):
    other = {**SITE, "compose_project": "other-deploy"}
    path = write_archive(backup_module, tmp_path / "other.tar", {"files/.env": b"A=1\n"}, site=other)
    result = make_restore(generated, f"FILE={path}")
    assert result.returncode != 0
    assert (f"restore: {path}: it is from another deployment (compose_project 'other-deploy', here 'bad-input-deploy'); "
            "nothing was changed") in result.stderr


def test_make_backup_without_env_says_one_line(generated, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(generated), str(copy)], check=True)
    (copy / ".env").unlink()
    result = subprocess.run(["make", "-C", str(copy), "backup"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "backup: .env is missing: there is no site here to back up" in result.stderr
