"""Create `.env` from `.env.example` and fill in its generated secrets.

    python3 scripts/env_secrets.py ensure   # create .env if missing; fill empty secrets
    python3 scripts/env_secrets.py rotate   # replace the generated secrets (not POSTGRES_PASSWORD)

Never prints a secret.  `.env` is kept at mode 600.  Stdlib only: the template's
post-generation hook uses it too.
"""

import os
import re
import secrets
import sys
from pathlib import Path

# Values this script generates; everything else in .env is the operator's.
GENERATED_SECRETS = {
    "CONFIGPROXY_AUTH_TOKEN": lambda: secrets.token_hex(32),
    "STATUS_API_TOKEN": lambda: secrets.token_hex(32),
    "TRIAL_PASSWORD": lambda: secrets.token_urlsafe(18),
    "TRIAL_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(32),
    "POSTGRES_PASSWORD": lambda: secrets.token_hex(24),
}
# PostgreSQL stores its password when the database volume is first initialised;
# a new one in .env alone would lock the hub out, so rotation keeps it.
KEPT_ON_ROTATE = {"POSTGRES_PASSWORD"}
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def parse_env(text):
    """KEY=value lines of a .env text as a dict (comments and blanks skipped)."""
    values = {}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def set_values(text, updates):
    """Return `text` with KEY=value lines replaced (or appended) from `updates`."""
    remaining = dict(updates)
    lines = []
    for line in text.splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match and match.group(1) in remaining:
            key = match.group(1)
            line = f"{key}={remaining.pop(key)}"
        lines.append(line)
    lines.extend(f"{key}={value}" for key, value in remaining.items())
    return "\n".join(lines) + "\n"


def write_private(path, text):
    """Write `text` to `path` readable by the owner only, also while writing."""
    path = Path(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def ensure_env(env_path, example_path, rotate=False, extra=None):
    """Create or update .env; returns the names of the values it (re)generated.

    `extra` sets further values (e.g. OAuth credentials given at generation).
    """
    env_path, example_path = Path(env_path), Path(example_path)
    text = env_path.read_text(encoding="utf-8") if env_path.exists() else example_path.read_text(encoding="utf-8")
    current = parse_env(text)
    updates = dict(extra or {})
    # Only the secrets this deployment uses (POSTGRES_PASSWORD only with PostgreSQL): those
    # in .env or .env.example, so a key new in .env.example is added to an existing .env.
    listed = set(current) | (set(parse_env(example_path.read_text(encoding="utf-8"))) if example_path.exists() else set())
    generated = [
        key for key in GENERATED_SECRETS
        if key in listed and (not current.get(key) or (rotate and key not in KEPT_ON_ROTATE))
    ]
    for key in generated:
        updates[key] = GENERATED_SECRETS[key]()
    write_private(env_path, set_values(text, updates))
    return generated


def main(argv):
    if len(argv) != 2 or argv[1] not in {"ensure", "rotate"}:
        print("usage: env_secrets.py ensure|rotate", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parent.parent
    generated = ensure_env(root / ".env", root / ".env.example", rotate=argv[1] == "rotate")
    if generated:
        print(f".env: generated {', '.join(generated)}")
    else:
        print(".env: secrets already set")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
