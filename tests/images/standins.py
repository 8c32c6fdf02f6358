#!/usr/bin/env python3
"""Local stand-ins for the container images the template pins.

No container registry is reachable on the test machines, so every image a
generated deployment references (``_pins`` in cookiecutter.json) is built here
from Debian packages, PyPI and npm, and tagged with the *exact* upstream
reference, so the generated files run unchanged.

For each reference: an image already present is reused; otherwise a
``docker pull`` is tried with a short timeout; otherwise the stand-in recipe is
built.  Recipes (one folder each beside this file):

    hub/            quay.io/jupyterhub/jupyterhub:<version>
    notebook/       quay.io/jupyter/<flavor>:<tag>   (any *-notebook flavor; tag hub-<v>: jupyterhub <v>)
    nginx/          nginx:<version>-alpine
    socket-proxy/   haproxy:<version>-alpine
    certbot/        certbot/certbot:v<version>
    pebble/         jupyterhub-template/pebble:<suite>  (test peer, not pinned)
    oidc-provider/  jupyterhub-template/oidc-provider:<suite>  (test peer, not pinned)
    slapd/          jupyterhub-template/slapd:<suite>   (test peer, not pinned)
    dind/           jupyterhub-template/dind:<suite>    (test peer, not pinned: a Swarm node)
    postgres/       postgres:<version>-alpine

They build on two shared layers: base/ (a debootstrapped Debian trixie rootfs
plus the host's CA bundle) and python/ (Debian's python3 + venv).

Command line::

    python3 tests/images/standins.py                 # every pinned image
    python3 tests/images/standins.py REF [REF ...]   # just these
    python3 tests/images/standins.py --verify        # ensure, then smoke-test
    python3 tests/images/standins.py --list          # print the pinned refs

From Python::

    from standins import ensure_images, pinned_refs, verify_images
    ensure_images(pinned_refs())

Environment knobs: STANDIN_PULL_TIMEOUT (seconds, default 30, 0 = never
pull), STANDIN_DEBIAN_MIRROR, STANDIN_CA_BUNDLE, STANDIN_BUILD_NETWORK (passed
to ``docker build --network``), STANDIN_JUPYTERLAB_VERSION, STANDIN_CHP_VERSION,
STANDIN_OIDC_PROVIDER_VERSION, STANDIN_VERBOSE=1 (stream build output).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
COOKIECUTTER_JSON = REPO / "cookiecutter.json"

SUITE = "trixie"
ROOTFS_IMAGE = f"jupyterhub-template/debian-{SUITE}:base"
BASE_IMAGE = f"jupyterhub-template/standin-base:{SUITE}"
PYTHON_IMAGE = f"jupyterhub-template/standin-python:{SUITE}"
# The ACME test server the Let's Encrypt end-to-end test talks to.
PEBBLE_IMAGE = f"jupyterhub-template/pebble:{SUITE}"
# The OpenID Provider the OIDC login end-to-end test talks to (npm oidc-provider).
OIDC_PROVIDER_IMAGE = f"jupyterhub-template/oidc-provider:{SUITE}"
# The LDAP server the LDAP login end-to-end test talks to.
SLAPD_IMAGE = f"jupyterhub-template/slapd:{SUITE}"
# A Docker engine in a container: one node of the multi-node Swarm end-to-end test.
DIND_IMAGE = f"jupyterhub-template/dind:{SUITE}"
LABEL = "org.jupyterhub-template.standin"

# Not in _pins: versions only the stand-ins need.
JUPYTERLAB_VERSION = os.environ.get("STANDIN_JUPYTERLAB_VERSION", "4.6.6")
CHP_VERSION = os.environ.get("STANDIN_CHP_VERSION", "^5")
OIDC_PROVIDER_VERSION = os.environ.get("STANDIN_OIDC_PROVIDER_VERSION", "9.13.3")

DEBIAN_MIRROR = os.environ.get("STANDIN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CA_BUNDLE = Path(os.environ.get("STANDIN_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
PULL_TIMEOUT = float(os.environ.get("STANDIN_PULL_TIMEOUT", "30"))
BUILD_NETWORK = os.environ.get("STANDIN_BUILD_NETWORK", "")
VERBOSE = os.environ.get("STANDIN_VERBOSE", "") not in ("", "0")

STATE_DIR = Path(tempfile.gettempdir()) / "jupyterhub-template-standins"
DEFAULT_FLAVORS = ("scipy-notebook", "base-notebook")

_VERSION_RE = re.compile(r"^v?(\d+(?:\.\d+)+(?:[.-]?(?:a|b|rc|post|dev)\d*)?)$")


class StandinError(RuntimeError):
    """An image could not be reused, pulled or built."""


# --------------------------------------------------------------------------
# Pins and recipes
# --------------------------------------------------------------------------

def load_pins() -> dict:
    """The ``_pins`` object of cookiecutter.json."""
    with COOKIECUTTER_JSON.open(encoding="utf-8") as fh:
        return json.load(fh)["_pins"]


def notebook_ref(flavor: str, pins: dict | None = None) -> str:
    pins = pins or load_pins()
    return f"quay.io/jupyter/{flavor}:{pins['notebook_tag']}"


def pinned_refs() -> list:
    """Every image reference the pins produce: hub, notebooks, nginx, socket proxy, PostgreSQL."""
    pins = load_pins()
    refs = [pins["hub_image"]]
    refs += [notebook_ref(flavor, pins) for flavor in DEFAULT_FLAVORS]
    refs += [pins["nginx_image"], pins["socket_proxy_image"], pins["certbot_image"], pins["postgres_image"]]
    return refs


def _split_ref(ref: str) -> tuple:
    """(repository path without registry, tag) of an image reference."""
    name, tag = ref, "latest"
    if "@" in name:
        name = name.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts), tag


def recipe_for(ref: str, pins: dict | None = None) -> tuple:
    """(recipe folder name, build args) of the stand-in for ``ref``."""
    pins = pins or load_pins()
    path, tag = _split_ref(ref)
    name = path.rsplit("/", 1)[-1]
    if ref == pins["hub_image"] or path == "jupyterhub/jupyterhub":
        match = _VERSION_RE.match(tag)
        version = match.group(1) if match else pins["jupyterhub"]
        return "hub", {"JUPYTERHUB_VERSION": version, "CHP_VERSION": CHP_VERSION}
    if re.fullmatch(r"jupyter/[a-z0-9-]+-notebook", path):
        # Docker Stacks also tag images `hub-<jupyterhub version>`; other tags get the pinned one.
        hub_tag = re.fullmatch(r"hub-(\d+(?:\.\d+)+)", tag)
        return "notebook", {
            "JUPYTERHUB_VERSION": hub_tag.group(1) if hub_tag else pins["jupyterhub"],
            "JUPYTERLAB_VERSION": JUPYTERLAB_VERSION,
        }
    if ref == pins["nginx_image"] or name == "nginx":
        return "nginx", {}
    if ref == pins["socket_proxy_image"] or name == "haproxy":
        return "socket-proxy", {}
    if ref == pins["certbot_image"] or path == "certbot/certbot":
        return "certbot", {}
    if ref == PEBBLE_IMAGE:
        return "pebble", {}
    if ref == OIDC_PROVIDER_IMAGE:
        return "oidc-provider", {"OIDC_PROVIDER_VERSION": OIDC_PROVIDER_VERSION}
    if ref == SLAPD_IMAGE:
        return "slapd", {}
    if ref == DIND_IMAGE:
        return "dind", {}
    if ref == pins["postgres_image"] or name == "postgres":
        return "postgres", {}
    raise StandinError(f"no stand-in recipe for {ref!r}")


# --------------------------------------------------------------------------
# Docker helpers
# --------------------------------------------------------------------------

def _docker_env() -> dict:
    env = dict(os.environ)
    # The legacy builder works with every engine here (20.10, no buildx plugin).
    env.setdefault("DOCKER_BUILDKIT", "0")
    return env


def _run(cmd, *, check=True, timeout=None, capture=True, **kwargs):
    result = subprocess.run(
        cmd,
        check=False,
        timeout=timeout,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        env=_docker_env(),
        **kwargs,
    )
    if check and result.returncode != 0:
        out = (result.stdout or "").strip()
        raise StandinError(f"{' '.join(map(str, cmd))} exited {result.returncode}\n{out[-3000:]}")
    return result


def image_exists(ref: str) -> bool:
    return _run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], check=False).returncode == 0


def try_pull(ref: str, timeout: float = PULL_TIMEOUT) -> bool:
    """Pull ``ref``; False (quietly) when the registry is unreachable or slow."""
    if timeout <= 0:
        return False
    try:
        result = _run(["docker", "pull", "--quiet", ref], check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and image_exists(ref)


def _log_path(name: str) -> Path:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return STATE_DIR / f"build-{name}.log"


def _build(tag: str, context: Path, build_args: dict, log_name: str, recipe: str) -> None:
    cmd = ["docker", "build", "--rm", "--force-rm", "-t", tag, "--label", f"{LABEL}={recipe}"]
    if BUILD_NETWORK:
        cmd += ["--network", BUILD_NETWORK]
    for key, value in build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(str(context))
    log = _log_path(log_name)
    with log.open("w", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        if VERBOSE:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=_docker_env())
            for line in proc.stdout:
                fh.write(line)
                sys.stderr.write(line)
            rc = proc.wait()
        else:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_docker_env()).returncode
    if rc != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-40:])
        raise StandinError(f"building {tag} failed (exit {rc}); full log: {log}\n{tail}")


@contextlib.contextmanager
def _lock():
    """Serialise concurrent ensure_images() calls on this machine."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with (STATE_DIR / "lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Shared layers
# --------------------------------------------------------------------------

def _mounts_under(path: Path) -> list:
    prefix = str(path.resolve()).rstrip("/") + "/"
    mounts = []
    with open("/proc/mounts", encoding="utf-8") as fh:
        for line in fh:
            target = line.split()[1].replace("\\040", " ")
            if (target + "/").startswith(prefix):
                mounts.append(target)
    return sorted(mounts, key=len, reverse=True)


def _remove_tree(path: Path) -> None:
    for mount in _mounts_under(path):
        subprocess.run(["umount", "-l", mount], check=False)
    if _mounts_under(path):
        _note(f"standins: leaving {path} in place: something is still mounted under it")
        return
    shutil.rmtree(path, ignore_errors=True)


def _ensure_debootstrap() -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        _note("standins: installing debootstrap (Debian)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        return shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    raise StandinError("debootstrap is needed to build the stand-in base image (run as root)")


def _prune_rootfs(root: Path) -> None:
    """Drop apt caches and documentation the image does not need."""
    for rel in ("var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc",
                "usr/share/man", "usr/share/info", "usr/share/locale", "var/log"):
        folder = root / rel
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name in ("partial", "lock"):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    for cache in (root / "var/cache/apt").glob("*.bin"):
        cache.unlink(missing_ok=True)


def ensure_rootfs_image() -> str:
    """``jupyterhub-template/debian-trixie:base``: debootstrap minbase + docker import."""
    if image_exists(ROOTFS_IMAGE):
        return "reused"
    if os.geteuid() != 0:
        raise StandinError("debootstrap needs root to build the stand-in base image")
    debootstrap = _ensure_debootstrap()
    workdir = Path(tempfile.mkdtemp(prefix="standin-rootfs-", dir="/var/tmp"))
    root = workdir / "rootfs"
    log = _log_path("rootfs")
    try:
        with log.open("w", encoding="utf-8") as fh:
            rc = subprocess.run(
                [debootstrap, "--variant=minbase", SUITE, str(root), DEBIAN_MIRROR],
                stdout=fh, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-30:])
            raise StandinError(f"debootstrap failed (exit {rc}); log: {log}\n{tail}")
        _prune_rootfs(root)
        tar = subprocess.Popen(
            ["tar", "-C", str(root), "--numeric-owner",
             "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
             "--exclude=./run/*", "--exclude=./tmp/*", "-c", "."],
            stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "--change", 'CMD ["bash"]',
             "--message", f"debootstrap --variant=minbase {SUITE}", "-", ROOTFS_IMAGE],
            stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tar.stdout.close()
        tar_rc = tar.wait()
        if tar_rc != 0 or imported.returncode != 0:
            raise StandinError(f"tar | docker import failed (tar {tar_rc}, import "
                               f"{imported.returncode}): {imported.stdout.strip()}")
    finally:
        _remove_tree(workdir)
    return "built"


def ensure_base_image() -> str:
    """Rootfs + the host's CA bundle + Debian image conventions."""
    if image_exists(BASE_IMAGE):
        return "reused"
    if not CA_BUNDLE.is_file():
        raise StandinError(f"no CA bundle at {CA_BUNDLE} (set STANDIN_CA_BUNDLE)")
    with tempfile.TemporaryDirectory(prefix="standin-base-") as tmp:
        context = Path(tmp)
        for entry in (HERE / "base").iterdir():
            if entry.is_file():
                shutil.copy2(entry, context / entry.name)
        shutil.copyfile(CA_BUNDLE, context / "ca-bundle.crt")
        _build(BASE_IMAGE, context, {"ROOTFS_IMAGE": ROOTFS_IMAGE}, "base", "base")
    return "built"


def ensure_python_image() -> str:
    if image_exists(PYTHON_IMAGE):
        return "reused"
    _build(PYTHON_IMAGE, HERE / "python", {"BASE_IMAGE": BASE_IMAGE}, "python", "python")
    return "built"


_LAYERS = {
    "rootfs": (ROOTFS_IMAGE, ensure_rootfs_image, ()),
    "base": (BASE_IMAGE, ensure_base_image, ("rootfs",)),
    "python": (PYTHON_IMAGE, ensure_python_image, ("base",)),
}
_RECIPE_LAYERS = {
    "hub": ("python",),
    "notebook": ("python",),
    "nginx": ("base",),
    "socket-proxy": ("base",),
    "certbot": ("base",),
    "pebble": ("base",),
    "oidc-provider": ("base",),
    "slapd": ("base",),
    "dind": ("base",),
    "postgres": ("base",),
}


def _ensure_layer(name: str, done: dict) -> None:
    if name in done:
        return
    tag, ensure, deps = _LAYERS[name]
    for dep in deps:
        _ensure_layer(dep, done)
    start = time.monotonic()
    action = ensure()
    seconds = time.monotonic() - start
    done[name] = {"ref": tag, "action": action, "seconds": round(seconds, 1)}
    _note(f"{action:8s} {tag}  ({seconds:.1f} s)  [shared layer]")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def ensure_images(refs=None, *, pull: bool = True) -> dict:
    """Make every reference in ``refs`` (default: pinned_refs()) present locally.

    Returns ``{ref: {"action": "reused"|"pulled"|"built", "seconds": float,
    "recipe": str|None, "layers": [...]}}``, where ``layers`` lists the shared
    layers (rootfs, base, python) that building this image first had to reuse
    or build, timed separately from ``seconds``.  Raises StandinError when an
    image cannot be had.
    """
    refs = list(refs) if refs else pinned_refs()
    pins = load_pins()
    results: dict = {}
    layers: dict = {}
    with _lock():
        for ref in refs:
            if ref in results:
                continue
            start = time.monotonic()
            recipe = None
            used_layers = []
            if image_exists(ref):
                action = "reused"
            elif pull and try_pull(ref):
                action = "pulled"
            else:
                recipe, build_args = recipe_for(ref, pins)
                seen = set(layers)
                for layer in _RECIPE_LAYERS[recipe]:
                    _ensure_layer(layer, layers)
                used_layers = [layers[name] for name in ("rootfs", "base", "python")
                               if name in layers and name not in seen]
                start = time.monotonic()  # the shared layers are timed on their own
                args = {"BASE_IMAGE": BASE_IMAGE, "PYTHON_IMAGE": PYTHON_IMAGE, **build_args}
                needed = _dockerfile_args(HERE / recipe / "Dockerfile")
                args = {k: v for k, v in args.items() if k in needed}
                safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref)
                _build(ref, HERE / recipe, args, safe, recipe)
                action = "built"
            seconds = time.monotonic() - start
            results[ref] = {"action": action, "seconds": round(seconds, 1), "recipe": recipe,
                            "layers": used_layers}
            extra = f"  [{recipe}]" if recipe else ""
            _say(f"{action:8s} {ref}  ({seconds:.1f} s){extra}")
    return results


def _dockerfile_args(dockerfile: Path) -> set:
    names = set()
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", line)
        if match:
            names.add(match.group(1))
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("refs", nargs="*", metavar="REF",
                        help="image references (default: every pinned image)")
    parser.add_argument("--verify", action="store_true", help="smoke-test the images afterwards")
    parser.add_argument("--no-pull", action="store_true", help="never try docker pull")
    parser.add_argument("--list", action="store_true", help="print the pinned references and exit")
    parser.add_argument("--json", action="store_true", help="print the result as JSON at the end")
    opts = parser.parse_args(argv)
    if opts.list:
        print("\n".join(pinned_refs()))
        return 0
    refs = opts.refs or pinned_refs()
    try:
        results = ensure_images(refs, pull=not opts.no_pull)
        if opts.verify:
            from verify_standins import verify_images  # a separate concern, in its own file

            verify_images(refs)
    except StandinError as exc:
        print(f"standins: {exc}", file=sys.stderr)
        return 1
    if opts.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
