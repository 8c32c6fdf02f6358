"""Check that every site setting can be set from .env, and that .env documents nothing unused.

    python3 scripts/check_settings.py        (run by `make check`; needs `docker compose`)

`.env.example` is the list of site settings.  The rules:

- every setting hub/jupyterhub_config.py (and hub/swarm.py, on Swarm) reads with env(),
  env_flag() or env_parsed() is passed into the hub by docker-compose.yml, from a value
  documented in .env.example; on Swarm (docker-stack.yml) a secret is passed as <NAME>_FILE
  instead, a Docker secret that scripts/swarm.py makes from <NAME> in .env;
- every ${VARIABLE} docker-compose.yml uses is documented in .env.example (or
  derived and exported by the Makefile, like TLS_ARCHIVE_DIR);
- every key in .env.example is read by something: docker-compose.yml, the
  Makefile or a script in scripts/;
- a value read with internal() (fixed by this repo's own files) is in neither.

Prints one line per problem and exits 1 if any.  Stdlib only.
"""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The config's readers: which argument names the setting, and what kind it is.
SETTING_READERS = {"env": (0, "setting"), "env_flag": (0, "setting"), "env_parsed": (1, "setting"), "internal": (0, "internal")}
VARIABLE_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# Swarm: the Docker secret made from .env's <NAME> (scripts/swarm.py names it).
DOCKER_SECRET_SUFFIX = "_DOCKER_SECRET"
# Keys docker compose itself reads from .env.
COMPOSE_KEYS = {"COMPOSE_FILE"}


def config_reads(source):
    """{name: "setting" | "internal"} for each call of a reader in SETTING_READERS with a literal name."""
    reads = {}
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SETTING_READERS):
            continue
        position, kind = SETTING_READERS[node.func.id]
        if len(node.args) > position and isinstance(node.args[position], ast.Constant) and isinstance(node.args[position].value, str):
            reads[node.args[position].value] = kind
    return reads


def documented_keys(text):
    """Keys of KEY=value lines, in order (comments and blank lines skipped)."""
    keys = []
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)=", line)
        if match and not line.lstrip().startswith("#"):
            keys.append(match.group(1))
    return keys


def services_file(root=ROOT):
    """docker-stack.yml on Swarm, else docker-compose.yml."""
    stack = root / "docker-stack.yml"
    return stack if stack.is_file() else root / "docker-compose.yml"


def compose_model(root=ROOT):
    """The services file as Compose reads it, ${...} left as written."""
    result = subprocess.run(["docker", "compose", "--project-directory", str(root), "-f", str(services_file(root)),
                             "config", "--no-interpolate", "--format", "json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def makefile_exports(root):
    """Variables the Makefile derives and exports to `docker compose` (`export NAME = ...`)."""
    makefile = root / "Makefile"
    text = makefile.read_text(encoding="utf-8") if makefile.is_file() else ""
    return set(re.findall(r"^export ([A-Za-z_][A-Za-z0-9_]*)\s*:?=", text, re.MULTILINE))


def references(value):
    return set(VARIABLE_REFERENCE.findall(json.dumps(value)))


def read_elsewhere(root, key):
    """Whether the Makefile or a script reads `key` (as a word; this checker excluded)."""
    pattern = re.compile(r"\b" + re.escape(key) + r"\b")
    files = [root / "Makefile", *sorted((root / "scripts").glob("*"))]
    return any(path.is_file() and path.name != Path(__file__).name and pattern.search(path.read_text(encoding="utf-8"))
               for path in files)


def problems(reads, documented, compose, exported=frozenset(), services="docker-compose.yml"):
    """Every broken rule of the contract, as one line each."""
    found = []
    hub_environment = compose["services"]["hub"].get("environment") or {}
    used_by_compose = references(compose)
    for name, kind in sorted(reads.items()):
        if kind == "internal":
            if name in documented or name in hub_environment:
                found.append(f"{name} is internal() in hub/jupyterhub_config.py but set in .env.example or {services}")
        elif name not in hub_environment and name + "_FILE" in hub_environment:
            if name not in documented:
                found.append(f"{name} is passed to the hub as a Docker secret ({name}_FILE) but .env.example does not document {name}")
        elif name not in hub_environment:
            found.append(f"{name} is read by hub/jupyterhub_config.py but {services} does not pass it to the hub")
        elif not references(hub_environment[name]) & documented:
            found.append(f"{name} is passed to the hub without a value from .env (add it to .env.example)")
    secrets = {name for name in used_by_compose if name.endswith(DOCKER_SECRET_SUFFIX)
               and name.removesuffix(DOCKER_SECRET_SUFFIX) in documented}
    for name in sorted(used_by_compose - documented - exported - secrets):
        found.append(services + " uses ${" + name + "}, which .env.example does not document")
    return found


def unread_keys(root, documented, compose):
    used_by_compose = references(compose)
    return [key for key in sorted(documented)
            if key not in used_by_compose and key not in COMPOSE_KEYS and not read_elsewhere(root, key)]


def check(root=ROOT):
    reads = config_reads((root / "hub" / "jupyterhub_config.py").read_text(encoding="utf-8"))
    if (root / "hub" / "swarm.py").is_file():
        reads.update(config_reads((root / "hub" / "swarm.py").read_text(encoding="utf-8")))
    documented = set(documented_keys((root / ".env.example").read_text(encoding="utf-8")))
    compose = compose_model(root)
    found = problems(reads, documented, compose, makefile_exports(root), services_file(root).name)
    found += [f"{key} is in .env.example but nothing reads it (docker-compose.yml, Makefile, scripts/)"
              for key in unread_keys(root, documented, compose)]
    return found


def main():
    try:
        found = check()
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"error: settings check could not read the Compose file: {getattr(error, 'stderr', '') or error}", file=sys.stderr)
        return 1
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if found:
        return 1
    print("check: every hub setting can be set from .env, and .env.example documents only settings in use")
    return 0


if __name__ == "__main__":
    sys.exit(main())
