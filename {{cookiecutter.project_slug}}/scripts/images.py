"""Make sure every image the site runs is on this host before anything starts (`make up` runs this).

    python3 scripts/images.py nginx-container|host-nginx

The pinned images in .env (*_IMAGE), NOTEBOOK_IMAGE and every image offered in
NOTEBOOK_IMAGES: those already present are left alone (no registry is asked),
missing ones are pulled, so no user's first login waits for a pull.  A pull that
fails stops with one line naming the image.  Stdlib only.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hub"))
sys.path.insert(0, str(ROOT / "scripts"))
from env_secrets import parse_env  # noqa: E402
from environments import SettingError, parse_images  # noqa: E402


class PullError(Exception):
    pass


def site_images(values, reverse_proxy):
    """The image references the site needs, in .env order, each once."""
    images = [value for key, value in values.items() if key.endswith("_IMAGE") and value]
    if reverse_proxy == "host-nginx":
        # The host's nginx serves the site; NGINX_IMAGE only runs `make lint`'s nginx -t.
        images = [image for image in images if image != values.get("NGINX_IMAGE")]
    images += parse_images(values.get("NOTEBOOK_IMAGES", "")).values()
    return list(dict.fromkeys(images))


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def is_present(image):
    return docker("image", "inspect", image).returncode == 0


def pull(image):
    result = docker("pull", "--quiet", image)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"docker pull exited with {result.returncode}"
        raise PullError(f"images: cannot pull {image} ({reason}); nothing was started. "
                        "Fix the reference in .env or make the image available, then run `make up` again")


def ensure_images(images, present=is_present, fetch=pull):
    """Pull the images that `present` does not find; returns the pulled ones.  Raises PullError."""
    missing = [image for image in images if not present(image)]
    for image in missing:
        print(f"images: pulling {image}", flush=True)
        fetch(image)
    return missing


def main(argv):
    env_path = ROOT / ".env"
    if not env_path.exists():
        print(".env is missing: run `make secrets` to create it from .env.example", file=sys.stderr)
        return 1
    try:
        images = site_images(parse_env(env_path.read_text(encoding="utf-8")), argv[1] if len(argv) > 1 else "nginx-container")
        pulled = ensure_images(images)
    except (SettingError, PullError) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"images: {len(images)} present" + (f", {len(pulled)} of them pulled now" if pulled else ", none pulled"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
