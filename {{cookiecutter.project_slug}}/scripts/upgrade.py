"""`make upgrade`: move the running site to the versions now pinned in .env and hub/requirements.txt.

    python3 scripts/upgrade.py [--backup-dir backups] [--make make]

1. Refuses, changing nothing, with one line: no .env; .env lacks a setting of
   .env.example or fails `make check`'s .env checks ("dirty"); JUPYTERHUB_IMAGE
   and hub/requirements.txt name different JupyterHub versions; the site is down.
2. Backs the site up as it runs: the archive's .env and hub/requirements.txt
   carry the pins of the running containers, not the new ones.
3. Fetches pinned images missing on this host; builds the hub image.
4. Stops the hub (user servers keep running) and runs `jupyterhub upgrade-db`
   in a one-off container of the new hub image; prints the schema revision
   before and after.
5. `make up`, then `make smoke`.
After a failure in step 4 or 5 it prints how to roll back:
`make restore FILE=<that backup> FORCE=1`.  Stdlib only.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "hub"))
import backup as backups  # noqa: E402
import check  # noqa: E402
from env_secrets import parse_env, set_values  # noqa: E402

REQUIREMENTS = "hub/requirements.txt"
# Running in the hub container: where the image keeps the pins it was built with (hub/Dockerfile).
BUILT_REQUIREMENTS = "/tmp/requirements.txt"
BASE_IMAGE_LABEL = "org.jupyterhub-deploy.base-image"
# .env keys naming the image of a service other than the hub.
SERVICE_IMAGES = {"nginx": "NGINX_IMAGE", "db": "POSTGRES_IMAGE", "certbot": "CERTBOT_IMAGE", "docker-proxy": "SOCKET_PROXY_IMAGE"}
HUB_ENV_PINS = ("NOTEBOOK_IMAGE", "NOTEBOOK_IMAGES")
# In the one-off hub container: the schema revision, `jupyterhub upgrade-db`, the revision again.
UPGRADE_DB_SCRIPT = """
import os, subprocess, sys
import sqlalchemy

def revision():
    engine = sqlalchemy.create_engine(os.environ["DATABASE_URL"])
    with engine.connect() as connection:
        return connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()

before = revision()
code = subprocess.call(["jupyterhub", "upgrade-db", "--config", "/srv/jupyterhub/jupyterhub_config.py"])
if code:
    sys.exit(code)
print("schema-revision", before, revision())
"""


class Refused(Exception):
    """The site cannot be upgraded as it is; nothing was changed."""


class StepFailed(Exception):
    """A step after the backup failed."""


def run(command, timeout=1800, capture=True):
    return subprocess.run(command, capture_output=capture, text=True, timeout=timeout, cwd=ROOT)


def compose(*args, timeout=1800):
    return run(["docker", "compose", "--project-directory", str(ROOT), *args], timeout=timeout)


def last_line(result):
    text = (result.stderr or "").strip() or (result.stdout or "").strip()
    return text.splitlines()[-1] if text else f"exit {result.returncode}"


# --- Step 1: refuse a site that cannot be upgraded --------------------------------------

def dirty_env_reason(env_text, example_text):
    """Why .env is not ready for the new version, or None.

    Dirty means: a key of .env.example is missing from .env (a setting new in this
    version, e.g. after `cruft update`), or `make check` finds a problem in .env.
    """
    missing = sorted(set(parse_env(example_text)) - set(parse_env(env_text)))
    if missing:
        return (f".env lacks {', '.join(missing)}, which .env.example has: `make secrets` adds generated secrets, "
                "copy the other settings from .env.example; then `make upgrade` again")
    return None


def pinned_jupyterhub(requirements_text):
    match = re.search(r"^jupyterhub==(\S+)", requirements_text, re.MULTILINE)
    return match.group(1) if match else None


def image_version(reference):
    tag = reference.rsplit(":", 1)[1] if ":" in reference.rsplit("/", 1)[-1] else ""
    return tag if re.fullmatch(r"\d+(\.\d+)+", tag) else None


def version_mismatch(values, requirements_text):
    """JUPYTERHUB_IMAGE's tag and the jupyterhub pin must name one version (hub/Dockerfile)."""
    image, pinned = values.get("JUPYTERHUB_IMAGE", ""), pinned_jupyterhub(requirements_text)
    tagged = image_version(image)
    if tagged and pinned and tagged != pinned:
        return (f"JUPYTERHUB_IMAGE in .env is {image} but {REQUIREMENTS} pins jupyterhub=={pinned}: "
                "bump both to the same version")
    return None


def hub_state():
    """(container id, state, health) of the hub, or (None, 'absent', '')."""
    cid = compose("ps", "-a", "-q", "hub").stdout.strip()
    if not cid:
        return None, "absent", ""
    info = json.loads(run(["docker", "inspect", cid]).stdout)[0]["State"]
    return cid, info.get("Status", ""), (info.get("Health") or {}).get("Status", "")


def refusal(root=ROOT):
    """The one-line reason the upgrade must not start, or None."""
    env_path = root / ".env"
    if not env_path.exists():
        return ".env is missing: there is no site here to upgrade (make secrets, make up)"
    env_text = env_path.read_text(encoding="utf-8")
    reason = dirty_env_reason(env_text, (root / ".env.example").read_text(encoding="utf-8"))
    if reason:
        return reason
    problems, values = check.env_problems(env_path, "host-nginx")
    if problems:
        more = f" (and {len(problems) - 1} more: `make check` lists them)" if len(problems) > 1 else ""
        return f".env is not ready: {problems[0]}{more}"
    reason = version_mismatch(values, (root / REQUIREMENTS).read_text(encoding="utf-8"))
    if reason:
        return reason
    cid, state, health = hub_state()
    if state != "running" or health not in ("", "healthy"):
        what = "has no container" if cid is None else f"is {state}{', ' + health if health else ''}"
        return (f"the site is down (the hub {what}): an upgrade starts from a working site; "
                "`make up` (or `make restore`) first")
    return None


# --- Step 2: back up the site as it runs ----------------------------------------------------

def running_pins(hub_id):
    """(.env values, requirements text) the running containers were started with."""
    info = json.loads(run(["docker", "inspect", hub_id]).stdout)[0]
    image_id = info["Image"]
    labels = json.loads(run(["docker", "image", "inspect", image_id]).stdout)[0]["Config"].get("Labels") or {}
    pins = {}
    if labels.get(BASE_IMAGE_LABEL):
        pins["JUPYTERHUB_IMAGE"] = labels[BASE_IMAGE_LABEL]
    environment = dict(item.split("=", 1) for item in info["Config"]["Env"] if "=" in item)
    pins.update({key: environment[key] for key in HUB_ENV_PINS if key in environment})
    for service, key in SERVICE_IMAGES.items():
        cid = compose("ps", "-q", service).stdout.strip()
        if cid:
            pins[key] = json.loads(run(["docker", "inspect", cid]).stdout)[0]["Config"]["Image"]
    requirements = run(["docker", "exec", hub_id, "cat", BUILT_REQUIREMENTS])
    return pins, (requirements.stdout if requirements.returncode == 0 else None)


def backup_as_running(backup_dir, hub_id, out=sys.stdout):
    env_text = (ROOT / ".env").read_text(encoding="utf-8")
    pins, requirements = running_pins(hub_id)
    values = parse_env(env_text)
    changed = {key: value for key, value in pins.items() if key in values and values[key] != value}
    replaced = {".env": set_values(env_text, pins).encode()}
    if requirements is not None:
        replaced[REQUIREMENTS] = requirements.encode()
        if requirements != (ROOT / REQUIREMENTS).read_text(encoding="utf-8"):
            changed[REQUIREMENTS] = f"jupyterhub=={pinned_jupyterhub(requirements)}"
    for key, old in sorted(changed.items()):
        new = f"jupyterhub=={pinned_jupyterhub((ROOT / REQUIREMENTS).read_text(encoding='utf-8'))}" if key == REQUIREMENTS else values[key]
        print(f"upgrade: {key}: {old} -> {new}", file=out)
    if not changed:
        print("upgrade: the pins are the ones the site runs with; upgrading in place (rebuild, database check, restart)", file=out)
    path = backups.backup(ROOT, backup_dir, out=out, replaced=replaced)
    print(f"upgrade: backed up the site as it runs (old pins) to {path}", file=out)
    return path


# --- Steps 3-5 ----------------------------------------------------------------------------

def pinned_images(values):
    images = [values.get(key, "") for key in ("JUPYTERHUB_IMAGE", "NOTEBOOK_IMAGE", *SERVICE_IMAGES.values())]
    images += [entry.split("=", 1)[1] for entry in values.get("NOTEBOOK_IMAGES", "").split(",") if "=" in entry]
    return [image for image in dict.fromkeys(images) if image]


def fetch_images(values, out=sys.stdout):
    """Pull each pinned image this host does not have (a pinned tag is not re-fetched)."""
    for image in pinned_images(values):
        if run(["docker", "image", "inspect", image]).returncode == 0:
            print(f"upgrade: image {image} is here", file=out)
            continue
        print(f"upgrade: pulling {image}", file=out)
        result = run(["docker", "pull", image])
        if result.returncode != 0:
            raise StepFailed(f"docker pull {image}: {last_line(result)}")


def upgrade_database(out=sys.stdout):
    """Stop the hub, `jupyterhub upgrade-db` in a one-off container of the new image; (before, after)."""
    result = compose("stop", "hub", timeout=300)
    if result.returncode != 0:
        raise StepFailed(f"docker compose stop hub: {last_line(result)}")
    print("upgrade: hub stopped (user servers keep running); upgrading its database", file=out)
    result = compose("run", "--rm", "--no-deps", "-T", "--entrypoint", "python3", "hub", "-c", UPGRADE_DB_SCRIPT, timeout=900)
    found = re.search(r"^schema-revision (\S+) (\S+)$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not found:
        raise StepFailed(f"jupyterhub upgrade-db: {last_line(result)}")
    before, after = found.groups()
    print(f"upgrade: database schema revision {before} -> {after}" if before != after
          else f"upgrade: database schema revision {after}, already current", file=out)
    return before, after


def make(make_command, target, out=sys.stdout):
    result = subprocess.run([make_command, "--no-print-directory", "-C", str(ROOT), target], cwd=ROOT, timeout=3600)
    if result.returncode != 0:
        raise StepFailed(f"make {target} failed (its output is above)")


def upgrade(backup_dir, make_command, out=sys.stdout):
    reason = refusal()
    if reason:
        raise Refused(reason)
    values = parse_env((ROOT / ".env").read_text(encoding="utf-8"))
    hub_id, _, _ = hub_state()
    started = time.monotonic()
    archive = backup_as_running(backup_dir, hub_id, out)
    rollback = (f"roll back with `make restore FILE={archive.relative_to(ROOT) if archive.is_relative_to(ROOT) else archive} FORCE=1`: "
                "it brings back the old .env pins, hub/requirements.txt, database and user volumes, then starts the old versions "
                "(if `cruft update` changed other files too, `git checkout` the commit you ran before, first)")
    try:
        fetch_images(values, out)
        result = compose("build", "hub")
        if result.returncode != 0:
            raise StepFailed(f"docker compose build hub: {last_line(result)}")
        print("upgrade: hub image built", file=out)
    except StepFailed as error:
        raise StepFailed(f"{error}; the running site is unchanged: fix the pins and `make upgrade` again") from None
    try:
        upgrade_database(out)
        make(make_command, "up", out)
        make(make_command, "smoke", out)
    except (StepFailed, subprocess.TimeoutExpired) as error:
        raise StepFailed(f"{error}\nupgrade: {rollback}") from None
    print(f"upgrade: done in {time.monotonic() - started:.0f} s; the backup from before is {archive}", file=out)


def main(argv):
    parser = argparse.ArgumentParser(prog="upgrade.py", description=__doc__.splitlines()[0])
    parser.add_argument("--backup-dir", default="backups")
    parser.add_argument("--make", default="make")
    options = parser.parse_args(argv[1:])
    try:
        upgrade(options.backup_dir, options.make)
    except Refused as error:
        print(f"upgrade: {error}; nothing was changed", file=sys.stderr)
        return 1
    except (StepFailed, backups.BackupError) as error:
        print(f"upgrade FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
