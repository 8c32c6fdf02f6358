"""Read the deployment's `userlist` file: one user per line, optionally `admin`
and `@group` words (JupyterHub groups, e.g. for shared group folders).

    # comments and blank lines are ignored
    alice admin
    bob @physics

Names are lower-cased the way JupyterHub normalizes them.  A malformed line
raises UserlistError naming the file and line number, so a typo stops the hub
(and `make check`) with a clear message instead of silently locking people out.

Plain Python (no third-party imports): the hub config and `make check` both use it.
"""

import re
import sys
from pathlib import Path
from typing import NamedTuple

# GitHub's login rules (letters, digits, single inner hyphens, at most 39
# characters) also make safe JupyterHub, Docker container and volume names.
USERNAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,38}$")
GROUP_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_]|-(?=[a-z0-9_])){0,38}$")
ROLES = {"admin"}


class UserlistError(ValueError):
    """The userlist has a line that is not `name [admin] [@group ...]`."""


class Userlist(NamedTuple):
    allowed: set
    admins: set
    groups: dict  # group name -> set of user names


def normalize_username(name):
    """Lower-case a name as JupyterHub's default Authenticator.normalize_username does."""
    return name.lower()


def parse_userlist(text, source="userlist"):
    """Parse userlist text; returns Userlist(allowed=set, admins=set, groups=dict).

    Every admin and group member is also in `allowed`.
    """
    allowed, admins, groups = set(), set(), {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        name = normalize_username(fields[0])
        words = [field.lower() for field in fields[1:]]
        roles = [word for word in words if not word.startswith("@")]
        member_of = [word[1:] for word in words if word.startswith("@")]
        if not USERNAME_PATTERN.match(name):
            raise UserlistError(
                f"{source}:{number}: {fields[0]!r} is not a valid user name "
                "(letters, digits and single inner hyphens, at most 39 characters)"
            )
        unknown = [role for role in roles if role not in ROLES]
        if unknown:
            raise UserlistError(
                f"{source}:{number}: unknown word {unknown[0]!r} after {fields[0]!r} "
                "(a line is `name`, optionally followed by `admin` and `@group` words)"
            )
        bad_groups = [group for group in member_of if not GROUP_PATTERN.match(group)]
        if bad_groups:
            raise UserlistError(
                f"{source}:{number}: '@{bad_groups[0]}' is not a valid group "
                "(lowercase letters, digits, '_' and single inner hyphens after '@')"
            )
        allowed.add(name)
        if "admin" in roles:
            admins.add(name)
        for group in member_of:
            groups.setdefault(group, set()).add(name)
    return Userlist(allowed=allowed, admins=admins, groups=groups)


def read_userlist(path):
    """Parse the userlist file at `path`; a missing file means no users."""
    path = Path(path)
    if not path.exists():
        return Userlist(allowed=set(), admins=set(), groups={})
    # utf-8-sig drops a byte-order mark; splitlines() handles CRLF files.
    return parse_userlist(path.read_text(encoding="utf-8-sig"), source=str(path))


def main(argv):
    """`python3 userlist.py FILE`: validate FILE and print a one-line summary."""
    if len(argv) != 2:
        print("usage: userlist.py FILE", file=sys.stderr)
        return 2
    try:
        users = read_userlist(argv[1])
    except UserlistError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{argv[1]}: {len(users.allowed)} users, {len(users.admins)} admins, {len(users.groups)} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
