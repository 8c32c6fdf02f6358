"""Put this deployment's server block into the host's nginx, or take it out again.

    python3 scripts/host_nginx.py install|uninstall --slug SLUG [--nginx-dir /etc/nginx]
                                  [--nginx nginx] [--cert-dir nginx/certs] [--url URL]

Either the host's nginx ends up serving the new configuration, or it is left
exactly as it was: nothing is copied when nginx is missing, when its current
configuration already fails `nginx -t`, or when another server block claims
this hub's server_name; copied files are rolled back when `nginx -t` fails
with them.  Run as root (`make host-nginx-install`).  Stdlib only.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE_HEADER = re.compile(r"^# configuration file (.+):$", re.MULTILINE)
SERVER_NAME = re.compile(r"(?:^|[;{}\s])server_name\s+([^;]+);")
PID_DIRECTIVE = re.compile(r"^\s*pid\s+([^;\s]+)\s*;", re.MULTILINE)
MANIFEST = "installed-dirs.json"


class Refusal(Exception):
    """A reason not to touch (or to restore) the host's nginx; one line for the operator."""


class Layout:
    """Where this deployment's files go inside the host's nginx directory."""

    def __init__(self, nginx_dir, slug, cert_dir):
        self.nginx_dir = Path(nginx_dir)
        self.cert_dest = self.nginx_dir / "certs" / slug
        self.server_block = self.nginx_dir / "conf.d" / f"{slug}.conf"
        # (source, destination, mode); certificates last, the private key private.
        self.files = [
            (ROOT / "nginx" / "jupyterhub.conf", self.server_block, 0o644),
            (ROOT / "nginx" / "tls.conf", self.nginx_dir / "snippets" / f"{slug}-tls.conf", 0o644),
            (ROOT / cert_dir / "fullchain.pem", self.cert_dest / "fullchain.pem", 0o644),
            (ROOT / cert_dir / "privkey.pem", self.cert_dest / "privkey.pem", 0o600),
        ]
        # Directories in creation order, with their modes.
        self.dirs = [
            (self.nginx_dir / "conf.d", 0o755),
            (self.nginx_dir / "snippets", 0o755),
            (self.nginx_dir / "certs", 0o755),
            (self.cert_dest, 0o700),
        ]
        self.manifest = self.cert_dest / MANIFEST

    def destinations(self):
        return [destination for _, destination, _ in self.files] + [self.manifest]


def run_nginx(nginx, *args):
    return subprocess.run([*nginx, *args], capture_output=True, text=True)


def last_error(result):
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    emergencies = [line for line in lines if "[emerg]" in line]
    return (emergencies or lines or ["(no output)"])[-1].strip()


def require_nginx(nginx, nginx_dir):
    if shutil.which(nginx[0]) is None:
        raise Refusal(f"nginx is not installed (no `{nginx[0]}` on PATH); install it (e.g. apt-get install nginx) "
                      "or generate the nginx-container variant")
    if not Path(nginx_dir).is_dir():
        raise Refusal(f"{nginx_dir} does not exist; set NGINX_DIR to the directory holding nginx.conf")
    result = run_nginx(nginx, "-t")
    if result.returncode != 0:
        raise Refusal(f"the host's nginx configuration already fails `nginx -t` ({last_error(result)}); fix it first")


def dump_config(nginx):
    """`nginx -T`: {file path: text} for every file the running configuration includes."""
    result = run_nginx(nginx, "-T")
    if result.returncode != 0:
        raise Refusal(f"`nginx -T` failed: {last_error(result)}")
    parts = FILE_HEADER.split(result.stdout)
    return {parts[index]: parts[index + 1] for index in range(1, len(parts) - 1, 2)}


def server_names(text):
    """Exact server names in an nginx config text (comments ignored)."""
    names = set()
    without_comments = re.sub(r"#[^\n]*", "", text)
    for match in SERVER_NAME.finditer(without_comments):
        names.update(name.lower() for name in match.group(1).split() if name not in ("_", '""'))
    return names


def conflicting_files(config, names, own_files):
    """Files outside this deployment's own that define one of `names`: {path: names}."""
    own = {str(path) for path in own_files}
    conflicts = {}
    for path, text in config.items():
        if path not in own and server_names(text) & names:
            conflicts[path] = sorted(server_names(text) & names)
    return conflicts


def snapshot(layout):
    """What a rollback needs: the old bytes and mode of every destination, which directories existed."""
    files = {}
    for destination in layout.destinations():
        if destination.is_file():
            files[destination] = (destination.read_bytes(), destination.stat().st_mode & 0o7777)
        else:
            files[destination] = None
    existing_dirs = {directory for directory, _ in layout.dirs if directory.is_dir()}
    return files, existing_dirs


def restore(layout, saved):
    files, existing_dirs = saved
    for directory, mode in layout.dirs:
        if directory in existing_dirs and not directory.is_dir():
            directory.mkdir(mode=mode)
            os.chmod(directory, mode)
    for destination, old in files.items():
        if old is None:
            destination.unlink(missing_ok=True)
        else:
            destination.write_bytes(old[0])
            os.chmod(destination, old[1])
    for directory, _ in reversed(layout.dirs):
        if directory not in existing_dirs and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def created_dirs(layout):
    """Directories a previous install created (from its manifest), deepest first."""
    try:
        return [Path(path) for path in json.loads(layout.manifest.read_text())]
    except (OSError, ValueError):
        return [layout.cert_dest]


def copy_files(layout, saved):
    _, existing_dirs = saved
    created = [str(directory) for directory, _ in reversed(layout.dirs) if directory not in existing_dirs]
    if layout.manifest.is_file():  # a reinstall keeps what the first install created
        created = sorted(set(created) | {str(path) for path in created_dirs(layout)}, key=len, reverse=True)
    for directory, mode in layout.dirs:
        if directory not in existing_dirs:
            directory.mkdir(mode=mode)
            os.chmod(directory, mode)
    for source, destination, mode in layout.files:
        destination.write_bytes(source.read_bytes())
        os.chmod(destination, mode)
    layout.manifest.write_text(json.dumps(created) + "\n")
    os.chmod(layout.manifest, 0o600)


def nginx_running(nginx, config):
    """True when the pid file named by the configuration points at a live process."""
    pid_paths = [match.group(1) for text in config.values() for match in PID_DIRECTIVE.finditer(text)]
    if not pid_paths:
        built_in = re.search(r"--pid-path=(\S+)", run_nginx(nginx, "-V").stderr)
        pid_paths = [built_in.group(1) if built_in else "/run/nginx.pid"]
    try:
        os.kill(int(Path(pid_paths[-1]).read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def apply(nginx, layout, saved, action):
    """Test the changed configuration, reload a running nginx; restore `saved` on any failure."""
    result = run_nginx(nginx, "-t")
    if result.returncode != 0:
        restore(layout, saved)
        raise Refusal(f"`nginx -t` failed after {action} ({last_error(result)}); rolled back")
    config = dump_config(nginx)
    if action == "install" and str(layout.server_block) not in config:
        restore(layout, saved)
        raise Refusal(f"nginx.conf does not include {layout.server_block.parent}/*.conf in its http block; "
                      "rolled back; add that include, then run this again")
    if not nginx_running(nginx, config):
        return "nginx is not running: start it (e.g. systemctl start nginx) to apply the change"
    reload = run_nginx(nginx, "-s", "reload")
    if reload.returncode != 0:
        restore(layout, saved)
        raise Refusal(f"`nginx -s reload` failed ({last_error(reload)}); rolled back")
    return "nginx reloaded"


def install(nginx, layout):
    require_nginx(nginx, layout.nginx_dir)
    missing = [str(source) for source, _, _ in layout.files if not source.is_file()]
    if missing:
        raise Refusal(f"missing {', '.join(missing)}: run `make certs` (self-signed) or put your certificate there")
    names = server_names(layout.files[0][0].read_text())
    conflicts = conflicting_files(dump_config(nginx), names, layout.destinations())
    if conflicts:
        where = "; ".join(f"{path} ({', '.join(found)})" for path, found in sorted(conflicts.items()))
        raise Refusal(f"another server block already uses this server_name: {where}; disable it first")
    saved = snapshot(layout)
    try:
        copy_files(layout, saved)
    except OSError as error:
        restore(layout, saved)
        raise Refusal(f"copying failed ({error}); rolled back") from error
    return apply(nginx, layout, saved, "install")


def uninstall(nginx, layout):
    require_nginx(nginx, layout.nginx_dir)
    if not any(destination.exists() for destination in layout.destinations()):
        return f"nothing of this deployment is installed in {layout.nginx_dir}"
    saved = snapshot(layout)
    removable = created_dirs(layout)
    for destination in layout.destinations():
        destination.unlink(missing_ok=True)
    for directory in removable:
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return apply(nginx, layout, saved, "uninstall")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["install", "uninstall"])
    parser.add_argument("--slug", required=True)
    parser.add_argument("--nginx-dir", default="/etc/nginx")
    parser.add_argument("--nginx", default="nginx", help="the nginx command (with options, e.g. 'nginx -c FILE')")
    parser.add_argument("--cert-dir", default="nginx/certs")
    parser.add_argument("--url", default="")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    nginx = shlex.split(args.nginx)
    layout = Layout(args.nginx_dir, args.slug, args.cert_dir)
    action = install if args.action == "install" else uninstall
    try:
        outcome = action(nginx, layout)
    except Refusal as error:
        print(f"host-nginx-{args.action}: {error}; the host's nginx is unchanged", file=sys.stderr)
        return 1
    if args.action == "install":
        print(f"host-nginx-install: {outcome}; JupyterHub is at {args.url}")
    else:
        print(f"host-nginx-uninstall: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
