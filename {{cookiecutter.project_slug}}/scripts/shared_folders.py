"""Prepare the shared folders named in .env (`make volumes` runs this).

    python3 scripts/shared_folders.py

GROUP_FOLDERS volumes are created if missing and their top folder handed to the
notebook user (NB_UID:NB_GID of NOTEBOOK_IMAGE, 1000:100 in Jupyter's images),
so group members can write there; a fresh Docker volume belongs to root.  A
SHARED_DATA volume is created empty if missing, for you to fill.  Host folders
are left as they are; a missing one is reported.  Stdlib only.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hub"))
sys.path.insert(0, str(ROOT / "scripts"))
from env_secrets import parse_env  # noqa: E402
from environments import SettingError, is_host_path, parse_group_folders, parse_shared_data  # noqa: E402

HAND_OVER = 'chown "${NB_UID:-1000}:${NB_GID:-100}" /folder && chmod 775 /folder'


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def ensure_volume(name):
    """Create volume `name` unless it exists; returns 'exists' or 'created'."""
    if docker("volume", "inspect", name).returncode == 0:
        return "exists"
    result = docker("volume", "create", name)
    if result.returncode != 0:
        raise RuntimeError(f"docker volume create {name}: {result.stderr.strip()}")
    return "created"


def hand_over(volume, image):
    """Make the volume's top folder the notebook user's, from a throw-away root container."""
    result = docker(
        "run", "--rm", "--network", "none", "--user", "root", "--cap-drop", "ALL",
        "--cap-add", "CHOWN", "--cap-add", "FOWNER", "--security-opt", "no-new-privileges:true",
        "-v", f"{volume}:/folder", "--entrypoint", "sh", image, "-c", HAND_OVER,
    )
    if result.returncode != 0:
        raise RuntimeError(f"could not hand {volume} to the notebook user: {result.stderr.strip()[-300:]}")


def main():
    env_path = ROOT / ".env"
    if not env_path.exists():
        print(".env is missing: run `make secrets` to create it from .env.example", file=sys.stderr)
        return 1
    values = parse_env(env_path.read_text(encoding="utf-8"))
    try:
        shared_data = parse_shared_data(values.get("SHARED_DATA", ""))
        group_folders = parse_group_folders(values.get("GROUP_FOLDERS", ""))
    except SettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        if shared_data and not is_host_path(shared_data):
            print(f"volumes: shared data {shared_data} {ensure_volume(shared_data)} (read-only for users)")
        for group, source in group_folders.items():
            if is_host_path(source):
                if not Path(source).is_dir():
                    print(f"note: group folder {source} ({group}) does not exist; create it and `chown 1000:100` it")
                continue
            state = ensure_volume(source)
            hand_over(source, values["NOTEBOOK_IMAGE"])
            print(f"volumes: group folder {source} ({group}) {state}, writable by the notebook user")
        if shared_data and is_host_path(shared_data) and not Path(shared_data).is_dir():
            print(f"note: SHARED_DATA folder {shared_data} does not exist on this host")
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
