"""Back up this site into one archive, and restore it.

    python3 scripts/backup.py backup [--dir backups]   # `make backup`
    python3 scripts/backup.py verify FILE               # check an archive, change nothing
    python3 scripts/backup.py restore FILE [--force]    # `make restore FILE=... [FORCE=1]`

An archive is one tar file (mode 600: it holds every secret of the site):

    files/.env, files/userlist          site values, secrets, who may log in
    files/hub/requirements.txt          the hub's Python package pins
    certs/tls/*, certs/test-ca/*        TLS_CERT_DIR and the local CA of `make certs`
    volumes/data.tar                    the hub's data volume: cookie secret and, with
                                        SQLite, a copy made with SQLite's backup API
    database/postgres.sql               with PostgreSQL: pg_dump of the hub database
    volumes/users/<volume>.tar          every user volume (USER_VOLUME_PREFIX-*)
    volumes/letsencrypt.tar             with tls_mode letsencrypt: certbot's account,
                                        keys and certificates (Let's Encrypt limits
                                        how often one name gets a new certificate)
    manifest.json                       sha256 and size of each member, and the
                                        deployment's identity (Compose project, data
                                        volume, user volume prefix, database)

Volumes are read and written by a helper container from the hub's base image
(JUPYTERHUB_IMAGE) that runs this same file (`export-volume`, `import-volume`),
so the host needs nothing but Docker and python3.  Stdlib only.
"""

import argparse
import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Beside this file, on the host and in the helper container alike.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_secrets import parse_env  # noqa: E402

FORMAT = 1
MANIFEST = "manifest.json"
DATA_MEMBER = "volumes/data.tar"
POSTGRES_MEMBER = "database/postgres.sql"
USER_VOLUME_DIR = "volumes/users/"
LETSENCRYPT_MEMBER = "volumes/letsencrypt.tar"
CERT_FOLDERS = {"certs/tls/": None, "certs/test-ca/": "nginx/test-ca"}  # None: TLS_CERT_DIR
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
CHUNK = 1024 * 1024
PROGRESS_SECONDS = float(os.environ.get("BACKUP_PROGRESS_SECONDS", "2"))
HELPER_SCRIPTS = "/backup-scripts"


class BackupError(Exception):
    """Stops a backup or restore with one line for the operator."""


# --- Reading the site ----------------------------------------------------------

def compose_project(root):
    """The Compose project name (`name:` in docker-compose.yml)."""
    text = (Path(root) / "docker-compose.yml").read_text(encoding="utf-8")
    match = re.search(r"^name:\s*(\S+)\s*$", text, re.MULTILINE)
    if not match:
        raise BackupError("docker-compose.yml has no `name:`")
    return match.group(1)


def site_values(root):
    """(values, from_env): .env when present, else the committed .env.example."""
    env_path = Path(root) / ".env"
    if env_path.exists():
        return parse_env(env_path.read_text(encoding="utf-8")), True
    return parse_env((Path(root) / ".env.example").read_text(encoding="utf-8")), False


def database_kind(values):
    return "postgresql" if values.get("DATABASE_URL", "").startswith("postgres") else "sqlite"


def identity(root, values):
    """What makes an archive belong to this deployment and no other."""
    return {
        "compose_project": compose_project(root),
        "database": database_kind(values),
        "data_volume": values.get("DATA_VOLUME", ""),
        "user_volume_prefix": values.get("USER_VOLUME_PREFIX", "jupyterhub-user"),
    }


def identity_mismatch(archived, current, has_env):
    """Why an archive is from another deployment, or None.

    Without a .env (a fresh clone of the deployment repository) only what the
    repository itself fixes is compared; the archive brings the rest.
    """
    keys = ("compose_project", "database", "data_volume", "user_volume_prefix") if has_env else ("compose_project", "database")
    for key in keys:
        if archived.get(key) != current.get(key):
            return f"it is from another deployment ({key} {archived.get(key)!r}, here {current.get(key)!r})"
    return None


def cert_dir(root, values):
    return Path(root) / values.get("TLS_CERT_DIR", "./nginx/certs")


def cert_sources(root, values):
    """(archive folder, local folder) of the certificate folders to keep."""
    return [(prefix, Path(root) / local if local else cert_dir(root, values)) for prefix, local in CERT_FOLDERS.items()]


# --- Small helpers ---------------------------------------------------------------

def human(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


class Progress:
    """Prints `label: done of total (pct%)` at most every PROGRESS_SECONDS, and a last line."""

    def __init__(self, label, total, out=None, interval=None, clock=time.monotonic):
        self.label, self.total, self.done = label, total, 0
        self.out = out or sys.stdout
        self.interval = PROGRESS_SECONDS if interval is None else interval
        self.clock = clock
        self.last = clock()

    def line(self):
        if self.total:
            return f"{self.label}: {human(self.done)} of {human(self.total)} ({min(100, 100 * self.done // self.total)}%)"
        return f"{self.label}: {human(self.done)}"

    def update(self, count):
        self.done += count
        if self.clock() - self.last >= self.interval:
            self.last = self.clock()
            print(self.line(), file=self.out, flush=True)

    def finish(self):
        print(f"{self.label}: {human(self.done)}, done", file=self.out, flush=True)


def docker(*args, check=True, **kwargs):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        raise BackupError(f"docker {' '.join(args[:3])} failed: {reason}")
    return result


def compose(root, *args, check=True, **kwargs):
    return docker("compose", "--project-directory", str(root), *args, check=check, **kwargs)


def helper_command(image, volume, *args, read_only=False, stdin=False):
    """`docker run` of this file in a throwaway container of the hub image, `volume` at /volume."""
    command = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python3"]
    if stdin:
        command.append("-i")
    command += ["-v", f"{volume}:/volume{':ro' if read_only else ''}", "-v", f"{ROOT / 'scripts'}:{HELPER_SCRIPTS}:ro"]
    return command + [image, f"{HELPER_SCRIPTS}/backup.py", *args]


def volume_exists(name):
    return docker("volume", "inspect", name, check=False).returncode == 0


def volume_is_empty(image, name):
    result = subprocess.run(helper_command(image, name, "volume-size", "/volume", read_only=True), capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"cannot read volume {name}: {result.stderr.strip()[-200:]}")
    return result.stdout.split()[-1:] == ["0"]


def user_volumes(prefix):
    names = docker("volume", "ls", "-q").stdout.split()
    return sorted(name for name in names if name.startswith(prefix + "-"))


def project_containers(project, running_only=False):
    return docker("ps", *([] if running_only else ["-a"]), "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()


def user_containers(values):
    """Containers on the user network named <USER_CONTAINER_PREFIX>-*: the user servers."""
    network, prefix = values.get("DOCKER_NETWORK", ""), values.get("USER_CONTAINER_PREFIX", "jupyter") + "-"
    ids = docker("ps", "-aq", "--filter", f"network={network}", check=False).stdout.split() if network else []
    if not ids:
        return []
    names = [item["Name"].lstrip("/") for item in json.loads(docker("inspect", *ids).stdout)]
    return sorted(name for name in names if name.startswith(prefix))


# --- Inside the helper container --------------------------------------------------

def snapshot_sqlite(source, target):
    """A consistent copy of a live SQLite database through SQLite's backup API."""
    with sqlite3.connect(source, timeout=60) as live, sqlite3.connect(target) as copy:
        live.backup(copy)
    with sqlite3.connect(target) as copy:
        if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"the copy of {source} fails SQLite's integrity check")


def walk_volume(directory):
    """Every path under `directory` (itself first), parents before children, links not followed."""
    yield directory
    for parent, folders, files in os.walk(directory):
        folders.sort()
        for name in folders + sorted(files):
            yield os.path.join(parent, name)


def export_volume(directory, out, snapshot_sqlite_files=False):
    """Write the volume at `directory` as a tar stream to `out` (owners, modes, times kept).

    With `snapshot_sqlite_files`, *.sqlite files are copied with SQLite's backup
    API and their journal files left out: never a live file copy of a database.
    """
    directory = os.path.abspath(directory)
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in walk_volume(directory):
            name = os.path.relpath(path, directory)
            if snapshot_sqlite_files and path.endswith(SQLITE_SIDE_FILES) and os.path.exists(path.rsplit("-", 1)[0]):
                continue
            if snapshot_sqlite_files and path.endswith(".sqlite") and os.path.isfile(path) and not os.path.islink(path):
                copy = os.path.join(scratch, "snapshot.sqlite")
                snapshot_sqlite(path, copy)
                info = tar.gettarinfo(path, arcname=name)
                info.size = os.path.getsize(copy)
                with open(copy, "rb") as handle:
                    tar.addfile(info, handle)
                os.unlink(copy)
                continue
            tar.add(path, arcname=name, recursive=False)


def import_volume(directory, stream):
    """Unpack a tar stream from export_volume into `directory`, owners and modes as they were."""
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        options = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        tar.extractall(directory, numeric_owner=True, **options)


def volume_size(directory):
    """(bytes, entries) under `directory`, for progress and emptiness checks."""
    size = count = 0
    for parent, folders, files in os.walk(directory):
        count += len(folders) + len(files)
        for name in files:
            path = os.path.join(parent, name)
            if not os.path.islink(path):
                size += os.path.getsize(path)
    return size, count


# --- Writing an archive -------------------------------------------------------------

class ArchiveWriter:
    """Adds members to the archive while recording their sha256 and size for the manifest."""

    def __init__(self, tar, scratch):
        self.tar, self.scratch, self.members = tar, Path(scratch), {}

    def add_bytes(self, name, data, mode=0o600):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        self.tar.addfile(info, io.BytesIO(data))
        self.members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def add_manifest(self, site):
        """The last member: checksums of all the others and the deployment's identity."""
        manifest = {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "identity": site, "members": dict(self.members)}
        self.add_bytes(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())

    def add_stream(self, name, command, progress):
        """Run `command`, keep its standard output as member `name`."""
        spool = self.scratch / "member"
        digest, size = hashlib.sha256(), 0
        descriptor = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for chunk in iter(lambda: process.stdout.read(CHUNK), b""):
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                progress.update(len(chunk))
            error = process.stderr.read().decode(errors="replace")
            if process.wait() != 0:
                raise BackupError(f"{name}: {' '.join(command[:2])} failed: {error.strip()[-300:]}")
        progress.finish()
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o600, int(time.time())
        with spool.open("rb") as handle:
            self.tar.addfile(info, handle)
        spool.unlink()
        self.members[name] = {"sha256": digest.hexdigest(), "size": size}


def volume_total(image, volume):
    result = subprocess.run(helper_command(image, volume, "volume-size", "/volume", read_only=True), capture_output=True, text=True)
    return int(result.stdout.split()[0]) if result.returncode == 0 and result.stdout.split() else 0


# Restored to the same path under the deployment folder.
SITE_FILES = (".env", "userlist", "hub/requirements.txt")


def add_files(writer, root, values, replaced=None):
    """The site files (`replaced`: name -> bytes to store instead of the file on disk) and certificates."""
    for name in SITE_FILES:
        path = Path(root) / name
        data = (replaced or {}).get(name)
        if data is None and path.exists():
            data = path.read_bytes()
        if data is not None:
            writer.add_bytes(f"files/{name}", data, mode=0o600 if name == ".env" else 0o644)
    for prefix, folder in cert_sources(root, values):
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                mode = path.stat().st_mode & 0o777
                writer.add_bytes(prefix + path.relative_to(folder).as_posix(), path.read_bytes(), mode=mode)


def add_postgres_dump(writer, root):
    """pg_dump of the hub database: consistent while the hub keeps running."""
    started_here = not compose(root, "ps", "--status", "running", "-q", "db").stdout.strip()
    if started_here:
        compose(root, "up", "-d", "--wait", "db", timeout=300)
    try:
        command = ["docker", "compose", "--project-directory", str(root), "exec", "-T", "db",
                   "pg_dump", "--username=jupyterhub", "--dbname=jupyterhub", "--no-owner"]
        writer.add_stream(POSTGRES_MEMBER, command, Progress("backup: database (pg_dump)", 0))
    finally:
        if started_here:
            compose(root, "stop", "db", check=False)


def backup(root, backup_dir, out=sys.stdout, replaced=None):
    """Write <backup_dir>/<project>-<UTC time>.tar; returns its path.

    `replaced` (file name -> bytes) stores other contents for site files: `make
    upgrade` keeps the pins the site runs with, not the ones it is about to apply.
    """
    root = Path(root)
    if not (root / ".env").exists():
        raise BackupError(".env is missing: there is no site here to back up")
    values, _ = site_values(root)
    site = identity(root, values)
    image = values["JUPYTERHUB_IMAGE"]
    backup_dir = Path(backup_dir) if Path(backup_dir).is_absolute() else root / backup_dir
    backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = backup_dir / f"{site['compose_project']}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.tar"
    partial = final.with_name(final.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar, \
                tempfile.TemporaryDirectory(dir=backup_dir) as scratch:
            writer = ArchiveWriter(tar, scratch)
            add_files(writer, root, values, replaced)
            data = values["DATA_VOLUME"]
            writer.add_stream(DATA_MEMBER, helper_command(image, data, "export-volume", "/volume", "--sqlite"),
                              Progress(f"backup: volume {data}", volume_total(image, data), out))
            if site["database"] == "postgresql":
                add_postgres_dump(writer, root)
            for volume in user_volumes(site["user_volume_prefix"]):
                writer.add_stream(USER_VOLUME_DIR + volume + ".tar",
                                  helper_command(image, volume, "export-volume", "/volume", read_only=True),
                                  Progress(f"backup: volume {volume}", volume_total(image, volume), out))
            certbot = letsencrypt_volume(site["compose_project"])
            if volume_exists(certbot):
                writer.add_stream(LETSENCRYPT_MEMBER, helper_command(image, certbot, "export-volume", "/volume", read_only=True),
                                  Progress(f"backup: volume {certbot}", volume_total(image, certbot), out))
            writer.add_manifest(site)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


# --- Checking an archive ------------------------------------------------------------

def read_manifest(path):
    """Open the archive and check every member against the manifest; returns the manifest.

    Raises BackupError naming what is wrong: a missing file, not a tar file,
    truncated, a member that does not match its checksum.  Reads only.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError("no such file")
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = {member.name: member for member in tar.getmembers()}
            if MANIFEST not in members:
                raise BackupError("no manifest.json: truncated, or not an archive from `make backup`")
            manifest = json.loads(tar.extractfile(members[MANIFEST]).read())
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("members"), dict):
                raise BackupError("manifest.json is not one `make backup` writes")
            unexpected = set(members) - set(manifest["members"]) - {MANIFEST}
            if unexpected:
                raise BackupError(f"{min(unexpected)} is not in the manifest: the archive was altered")
            for name, expected in manifest["members"].items():
                check_member(tar, members.get(name), name, expected)
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError) as error:
        raise BackupError(f"truncated or corrupt ({type(error).__name__}: {error})") from None
    return manifest


def check_member(tar, member, name, expected):
    if member is None:
        raise BackupError(f"{name} is missing: the archive is truncated or incomplete")
    if member.size != expected.get("size"):
        raise BackupError(f"{name} has {member.size} bytes, the manifest says {expected.get('size')}: truncated or corrupt")
    digest = hashlib.sha256()
    with tar.extractfile(member) as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected.get("sha256"):
        raise BackupError(f"{name} does not match its sha256 in the manifest: the archive is corrupt")


# --- Restoring ----------------------------------------------------------------------

def live_state(site, values, image):
    """What a restore would overwrite: reasons the site counts as live (empty when none)."""
    reasons = []
    running = project_containers(site["compose_project"], running_only=True)
    if running:
        reasons.append(f"{len(running)} container(s) of {site['compose_project']} are running")
    servers = user_containers(values)
    if servers:
        reasons.append(f"user servers exist ({', '.join(servers[:3])})")
    volumes = [site["data_volume"]] + ([values["DB_VOLUME"]] if values.get("DB_VOLUME") else [])
    for volume in volumes:
        if volume_exists(volume) and not volume_is_empty(image, volume):
            reasons.append(f"volume {volume} holds data")
    existing = user_volumes(site["user_volume_prefix"])
    if existing:
        reasons.append(f"{len(existing)} user volume(s) {site['user_volume_prefix']}-* exist")
    return reasons


def stop_site(site, values):
    """Stop and remove the stack's containers and the user servers (volumes stay until replaced)."""
    containers = project_containers(site["compose_project"]) + user_containers(values)
    if containers:
        docker("stop", "-t", "30", *containers, check=False, timeout=300)
        docker("rm", "-f", *containers, check=False)


def letsencrypt_volume(project):
    """certbot's volume, which Compose names <project>_letsencrypt (letsencrypt mode only)."""
    return f"{project}_letsencrypt"


def fresh_volume(name, labels=()):
    if volume_exists(name):
        docker("volume", "rm", name)
    docker("volume", "create", *[argument for label in labels for argument in ("--label", label)], name)


def write_file(path, data, mode):
    """Write `data` with `mode` from the start (secrets are never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def restore_files(tar, root, values):
    """.env, userlist and certificate folders, from the archive."""
    for member in tar.getmembers():
        if member.name.startswith("files/"):
            target = Path(root) / member.name[len("files/"):]
        else:
            prefix = next((prefix for prefix in CERT_FOLDERS if member.name.startswith(prefix)), None)
            if prefix is None:
                continue
            folder = dict(cert_sources(root, values))[prefix]
            target = folder / member.name[len(prefix):]
        data = tar.extractfile(member).read()
        write_file(target, data, member.mode & 0o777)


def pipe_member(command, tar, member, label, out, failure):
    """Stream one archive member into `command`'s standard input, with progress."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    progress = Progress(label, member.size, out)
    with tar.extractfile(member) as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            process.stdin.write(chunk)
            progress.update(len(chunk))
    process.stdin.close()
    error = process.stderr.read().decode(errors="replace")
    if process.wait() != 0:
        raise BackupError(f"{failure}: {error.strip()[-300:]}")
    progress.finish()


def import_stream(image, volume, tar, member, label, out):
    pipe_member(helper_command(image, volume, "import-volume", "/volume", stdin=True), tar, member, label, out,
                f"restoring {volume} failed")


def restore_postgres(root, tar, member, out):
    compose(root, "up", "-d", "--wait", "db", timeout=300)
    command = ["docker", "compose", "--project-directory", str(root), "exec", "-T", "db",
               "psql", "--quiet", "--username=jupyterhub", "--dbname=jupyterhub", "--single-transaction",
               "--set=ON_ERROR_STOP=1", "--output=/dev/null"]
    pipe_member(command, tar, member, "restore: database (psql)", out, "loading the database dump failed")


def check_restore(root, path, force):
    """Everything a restore checks before it touches anything; returns (manifest, archived .env values)."""
    manifest = read_manifest(path)
    current, has_env = site_values(root)
    archived_site = manifest.get("identity") or {}
    reason = identity_mismatch(archived_site, identity(root, current), has_env)
    if reason:
        raise BackupError(reason)
    with tarfile.open(path, mode="r:") as tar:
        archived_values = parse_env(tar.extractfile("files/.env").read().decode("utf-8"))
    live = live_state(archived_site, {**archived_values, **(current if has_env else {})}, archived_values["JUPYTERHUB_IMAGE"])
    if live and not force:
        raise BackupError(f"this site is live ({'; '.join(live)}); FORCE=1 replaces it with the archive")
    return manifest, archived_values, (current if has_env else archived_values)


def restore(root, path, force=False, out=sys.stdout):
    """Replace this site's files, volumes and database with the archive's; the caller starts it."""
    root = Path(root)
    manifest, values, running_values = check_restore(root, path, force)
    try:
        replace_site(root, path, manifest, values, running_values, out)
    except BackupError as error:
        error.touched = True
        raise


def replace_site(root, path, manifest, values, running_values, out):
    site, image = manifest["identity"], values["JUPYTERHUB_IMAGE"]
    stop_site(site, running_values)
    with tarfile.open(path, mode="r:") as tar:
        restore_files(tar, root, values)
        network = values.get("DOCKER_NETWORK")
        if network and docker("network", "inspect", network, check=False).returncode != 0:
            docker("network", "create", network)
        volumes = {site["data_volume"]: DATA_MEMBER}
        volumes.update({name[len(USER_VOLUME_DIR):-len(".tar")]: name for name in manifest["members"] if name.startswith(USER_VOLUME_DIR)})
        for volume, name in volumes.items():
            fresh_volume(volume)
            import_stream(image, volume, tar, tar.getmember(name), f"restore: volume {volume}", out)
        if LETSENCRYPT_MEMBER in manifest["members"]:
            # Labelled as Compose labels the volumes it creates, so `make up` adopts it as its own.
            certbot = letsencrypt_volume(site["compose_project"])
            fresh_volume(certbot, [f"com.docker.compose.project={site['compose_project']}", "com.docker.compose.volume=letsencrypt"])
            import_stream(image, certbot, tar, tar.getmember(LETSENCRYPT_MEMBER), f"restore: volume {certbot}", out)
        if site["database"] == "postgresql":
            fresh_volume(values["DB_VOLUME"])
            restore_postgres(root, tar, tar.getmember(POSTGRES_MEMBER), out)


# --- Command line ---------------------------------------------------------------------

def main(argv):
    parser = argparse.ArgumentParser(prog="backup.py", description="Back up or restore this JupyterHub site.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("backup").add_argument("--dir", default="backups")
    commands.add_parser("verify").add_argument("file", nargs="?", default="")
    restore_parser = commands.add_parser("restore")
    restore_parser.add_argument("file", nargs="?", default="")
    restore_parser.add_argument("--force", action="store_true")
    for name in ("export-volume", "import-volume", "volume-size"):  # inside the helper container
        sub = commands.add_parser(name)
        sub.add_argument("directory")
        sub.add_argument("--sqlite", action="store_true")
    options = parser.parse_args(argv[1:])
    if options.command == "export-volume":
        export_volume(options.directory, sys.stdout.buffer, snapshot_sqlite_files=options.sqlite)
        return 0
    if options.command == "import-volume":
        import_volume(options.directory, sys.stdin.buffer)
        return 0
    if options.command == "volume-size":
        print(*volume_size(options.directory))
        return 0
    return run_command(options)


def run_command(options):
    try:
        if options.command == "backup":
            path = backup(ROOT, options.dir)
            print(f"backup: wrote {path} ({human(path.stat().st_size)}, mode 600). It holds every secret of "
                  "this site: keep it private and copy it off this host.")
            return 0
        if not options.file:
            raise BackupError("give the archive: make restore FILE=backups/<name>.tar")
        if options.command == "verify":
            manifest = read_manifest(options.file)
            print(f"verify: {options.file}: {len(manifest['members'])} members match their checksums "
                  f"(site {manifest['identity']['compose_project']}, {manifest['created']})")
            return 0
        restore(ROOT, options.file, force=options.force)
        print(f"restore: {options.file} restored; starting the site")
        return 0
    except BackupError as error:
        where = f" {options.file}:" if getattr(options, "file", "") else ""
        touched = getattr(error, "touched", False)
        if options.command != "restore":
            suffix = ""
        elif touched:
            suffix = "; the site is half restored: fix the cause and run the restore again with FORCE=1"
        else:
            suffix = "; nothing was changed"
        print(f"{options.command}:{where} {error}{suffix}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
