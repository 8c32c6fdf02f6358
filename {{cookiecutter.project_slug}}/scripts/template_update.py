"""Bring the template's newer commits into this repository (`make template-update`).

    python3 scripts/template_update.py

Runs `cruft update` on a clean git work tree.  When the template's changes and
this site's edits touch the same lines, it puts the tree back exactly as it was
and names the files, so nothing is left half-merged: run `cruft update` yourself
to resolve them by hand.  Stdlib only (cruft itself: `pip install cruft`).
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class UpdateError(Exception):
    """Stops the update with one line for the operator; the tree is as it was."""


def git(*args, check=True):
    result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise UpdateError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def check_ready():
    if not (ROOT / ".cruft.json").is_file():
        raise UpdateError(".cruft.json is missing: this repository does not record the template it came from")
    if shutil.which("cruft") is None:
        raise UpdateError("cruft is not installed: pip install cruft")
    if git("rev-parse", "--is-inside-work-tree", check=False).strip() != "true":
        raise UpdateError("this folder is not a git repository: commit the site first (git init && git add -A && git commit)")
    if git("status", "--porcelain"):
        raise UpdateError("the work tree has uncommitted changes: commit or stash them first, so the update is one reviewable diff")


def conflicted_files():
    """Files the three-way merge could not settle: unmerged paths, rejects, or conflict markers."""
    files = set(git("diff", "--name-only", "--diff-filter=U").split())
    files |= {line[3:] for line in git("status", "--porcelain").splitlines() if line[3:].endswith(".rej")}
    for name in git("diff", "--name-only").split():
        path = ROOT / name
        if path.is_file() and "<<<<<<< " in path.read_text(encoding="utf-8", errors="replace"):
            files.add(name)
    return sorted(files)


def put_back():
    """The tree as it was before the update (it was clean, so HEAD is that state)."""
    git("reset", "--quiet", "--hard", "HEAD")
    git("clean", "--quiet", "-fd")  # only files the update created: ignored ones (.env, certificates) stay


def update():
    check_ready()
    before = git("rev-parse", "HEAD").strip()
    result = subprocess.run(["cruft", "update", "--skip-apply-ask"], cwd=ROOT, capture_output=True, text=True)
    conflicts = conflicted_files()
    if result.returncode != 0 or conflicts:
        put_back()
        if conflicts:
            raise UpdateError(f"the template's changes conflict with this site's edits in {', '.join(conflicts)}; nothing was "
                              "changed. Run `cruft update` yourself to merge them by hand")
        raise UpdateError(f"cruft update failed, nothing was changed: {(result.stderr or result.stdout).strip()[-300:]}")
    if git("rev-parse", "HEAD").strip() != before:
        raise UpdateError("HEAD moved during the update; check `git log`")
    changed = git("status", "--porcelain").splitlines()
    if not changed:
        return "template-update: already up to date with the template"
    return (f"template-update: {len(changed)} files updated from the template (not committed); review with `git diff`, "
            "then `make check && make up` and commit")


def main():
    try:
        print(update())
    except UpdateError as error:
        print(f"template-update: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
