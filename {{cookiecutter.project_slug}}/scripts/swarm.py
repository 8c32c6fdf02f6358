"""Deploy and check the Docker Swarm stack (docker-stack.yml) with the values of .env.

    python3 scripts/swarm.py manager   # one line, exit 1, when this engine is not a Swarm manager
    python3 scripts/swarm.py config    # docker stack config: the stack file as Swarm reads it
    python3 scripts/swarm.py deploy    # secrets, docker stack deploy, wait until healthy

`docker stack deploy` reads variables from its environment, not from .env:
this script passes the values of .env in.  The secret values of .env reach the
services only as Docker secrets (files under /run/secrets): each is created as
<stack>-<key>-<digest>, and a changed value becomes a new secret, because
Docker secrets cannot change.  Never initialises or joins a swarm.  Stdlib only.
"""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_secrets import parse_env  # noqa: E402  (needs the path above)

STACK = "{{ cookiecutter.project_slug }}"
STACK_FILE = ROOT / "docker-stack.yml"
# The .env keys docker-stack.yml delivers as Docker secrets (lower-case names in the stack file).
SECRET_KEYS = ["CONFIGPROXY_AUTH_TOKEN", "STATUS_API_TOKEN", "GITHUB_CLIENT_SECRET", "OIDC_CLIENT_SECRET",
               "TRIAL_PASSWORD", "TRIAL_ADMIN_PASSWORD", "LDAP_SEARCH_PASSWORD"]
STACK_LABEL = "org.jupyterhub-deploy.stack"
SERVICES = ["hub", "nginx"]
HEALTHY_TIMEOUT = 300


def docker(*args, check=True, data=None):
    result = subprocess.run(["docker", *args], input=data, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"error: docker {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result


def manager_problem():
    """None on a Swarm manager, else one line saying what to run."""
    result = docker("info", "--format", "{" "{json .Swarm}" "}", check=False)
    if result.returncode != 0:
        return "error: the Docker daemon does not answer (is DOCKER_HOST right?)"
    swarm = json.loads(result.stdout or "{}")
    if swarm.get("ControlAvailable"):
        return None
    if swarm.get("LocalNodeState") == "active":
        return ("error: this node is a Swarm worker; run make on a manager "
                "(`docker node ls` there lists them, `docker node promote` makes one)")
    return ("error: this Docker engine is not in a swarm; run `docker swarm init --advertise-addr <this host's IP>` "
            "here first (README, 'Swarm'), then `make up` again")


def site_values():
    return parse_env((ROOT / ".env").read_text(encoding="utf-8"))


def secret_name(key, value, salt):
    # Keyed digest: the name changes with the value without revealing anything about it.
    digest = hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:12]
    return f"{STACK}-{key.lower()}-{digest}"


def ensure_secrets(values):
    """Create the Docker secrets of SECRET_KEYS; returns {KEY_DOCKER_SECRET: name}."""
    existing = set(docker("secret", "ls", "--format", "{" "{.Name}" "}").stdout.split())
    names = {}
    for key in SECRET_KEYS:
        # Docker refuses an empty secret: a lone newline reads back as empty (the hub strips it).
        value = values.get(key) or "\n"
        name = secret_name(key, value, values.get("CONFIGPROXY_AUTH_TOKEN", STACK))
        if name not in existing:
            docker("secret", "create", "--label", f"{STACK_LABEL}={STACK}", name, "-", data=value)
        names[f"{key}_DOCKER_SECRET"] = name
    return names


def remove_old_secrets(current):
    """Secrets of earlier values; Docker keeps any still in use, so errors are ignored."""
    listed = docker("secret", "ls", "--filter", f"label={STACK_LABEL}={STACK}", "--format", "{" "{.Name}" "}").stdout.split()
    for name in set(listed) - set(current):
        docker("secret", "rm", name, check=False)


def stack_environment(values, secret_names):
    environment = {**os.environ, **values, **secret_names}
    # docker stack reads no nested ${A:-${B}}: the Makefile derives this one (certbot's archive folder).
    environment.setdefault("TLS_ARCHIVE_DIR", values.get("TLS_CERT_DIR") or "./nginx/certs")
    return environment


def healthy(service):
    """Whether the service's task runs and (on this manager) its container is healthy."""
    tasks = docker("service", "ps", f"{STACK}_{service}", "--filter", "desired-state=running",
                   "--format", "{" "{.CurrentState}" "}", check=False).stdout.split("\n")
    if not any(state.startswith("Running") for state in tasks):
        return False
    containers = docker("ps", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}",
                        "--format", "{" "{.Status}" "}", check=False).stdout
    return "(healthy)" in containers


def deploy():
    problem = manager_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    values = site_values()
    names = ensure_secrets(values)
    result = subprocess.run(["docker", "stack", "deploy", "--compose-file", str(STACK_FILE), "--prune", STACK],
                            env=stack_environment(values, names), text=True)
    if result.returncode != 0:
        return result.returncode
    remove_old_secrets(names.values())
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    waiting = list(SERVICES)
    while waiting and time.monotonic() < deadline:
        waiting = [service for service in waiting if not healthy(service)]
        if waiting:
            time.sleep(3)
    if waiting:
        print(f"error: {', '.join(waiting)} not healthy after {HEALTHY_TIMEOUT} s; see `make ps` and `make logs`", file=sys.stderr)
        return 1
    print(f"up: stack {STACK} is running: {', '.join(SERVICES)} healthy")
    return 0


def config():
    """The stack file as `docker stack deploy` reads it, interpolated with .env (exit 1 if invalid)."""
    values = site_values()
    names = {f"{key}_DOCKER_SECRET": f"{STACK}-{key.lower()}" for key in SECRET_KEYS}
    result = subprocess.run(["docker", "stack", "config", "--compose-file", str(STACK_FILE)],
                            env=stack_environment(values, names), capture_output=True, text=True)
    if result.returncode != 0 and "unknown command" in result.stderr:
        # Older Docker clients have no `docker stack config`; `docker stack deploy` checks the same at `make up`.
        print("check: skipped `docker stack config` (not in this Docker client); `make up` validates the stack file")
        return 0
    if result.returncode != 0:
        print(f"error: docker stack config: {result.stderr.strip()}", file=sys.stderr)
        return 1
    print("check: docker-stack.yml is valid for docker stack deploy")
    return 0


def main(argv):
    command = argv[1] if len(argv) == 2 else ""
    if command == "manager":
        problem = manager_problem()
        if problem:
            print(problem, file=sys.stderr)
        return 1 if problem else 0
    if command == "deploy":
        return deploy()
    if command == "config":
        return config()
    print("usage: swarm.py manager|config|deploy", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
