"""Template updates reach an existing deployment: .cruft.json, then `cruft update`.

A copy of this template becomes a git repository at an "old" commit; a site is
generated from it the way users do (`cookiecutter git+file://...`), committed
and customised; the template gets a new commit; `cruft update` in the site
brings that change in as a three-way merge that keeps the site's edits.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from template_helpers import TEMPLATE_DIR, pins

VENV_BIN = os.path.dirname(sys.executable)
GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.org"]


def git(directory, *args):
    result = subprocess.run(["git", "-C", str(directory), *GIT_IDENTITY, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def run(argv, cwd, env):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def template_repo(tmp_path):
    """This template, committed as the "old" version in a repository of its own."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, repo, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache", "build"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "old template")
    return repo


@pytest.fixture
def environment(tmp_path):
    return dict(os.environ, JUPYTERHUB_TEMPLATE_SKIP_DOCKER="1", HOME=str(tmp_path / "home"),
                PATH=f"{VENV_BIN}:{os.environ['PATH']}")


@pytest.fixture
def site(tmp_path, template_repo, environment):
    """A deployment generated from the old template, committed, as an operator keeps it."""
    output = tmp_path / "sites"
    result = run([sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output), f"git+file://{template_repo}",
                  "project_name=Update Lab", "authenticator=local-trial", "allowed_users=alice",
                  "github_client_secret=e2e0123456789abcdef"], tmp_path, environment)
    assert result.returncode == 0, result.stdout + result.stderr
    project = output / "update-lab-deploy"
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")
    return project


def test_generation_records_template_and_commit(site, template_repo):
    state = json.loads((site / ".cruft.json").read_text())
    assert state["template"] == f"file://{template_repo}"
    assert state["commit"] == git(template_repo, "rev-parse", "HEAD")
    assert state["context"]["cookiecutter"]["project_name"] == "Update Lab"
    assert state["skip"] == [".cruft.json", ".env", "userlist"]
    assert state["context"]["cookiecutter"]["github_client_secret"] == "", "secrets stay in .env, out of git"
    assert ".cruft.json" in git(site, "ls-files"), "committed with the site, not ignored"


def test_cruft_update_brings_the_change_and_keeps_the_customisation(site, template_repo, environment):
    # The site's own edits, committed.
    edit(site / "nginx" / "jupyterhub.conf", "client_max_body_size 100m;", "client_max_body_size 500m;")
    with (site / "hub" / "jupyterhub_config.py").open("a") as handle:
        handle.write("\n# --- Site-specific ---\nc.Spawner.default_url = '/lab'\n")
    with (site / "userlist").open("a") as handle:
        handle.write("bob\n")
    git(site, "commit", "-q", "-am", "site customisation")
    env_before = (site / ".env").read_text()

    # A new template commit: a newer notebook image pin and a new hub setting.
    old_tag, new_tag = pins()["notebook_tag"], "2099-01-01"
    edit(template_repo / "cookiecutter.json", f'"notebook_tag": "{old_tag}"', f'"notebook_tag": "{new_tag}"')
    edit(template_repo / "{{cookiecutter.project_slug}}" / "hub" / "jupyterhub_config.py",
         "c.JupyterHub.allow_named_servers = False\n",
         "c.JupyterHub.allow_named_servers = False\n# Added by a newer template.\nc.JupyterHub.shutdown_on_logout = False\n")
    git(template_repo, "commit", "-q", "-am", "new template")

    check = run(["cruft", "check"], site, environment)
    assert check.returncode != 0, "cruft check notices the newer template"
    update = run(["cruft", "update", "--skip-apply-ask", "--allow-untracked-files"], site, environment)
    assert update.returncode == 0, update.stdout + update.stderr

    config = (site / "hub" / "jupyterhub_config.py").read_text()
    assert "c.JupyterHub.shutdown_on_logout = False" in config, "the template change arrived"
    assert "c.Spawner.default_url = '/lab'" in config, "the site's section survived"
    assert "client_max_body_size 500m;" in (site / "nginx" / "jupyterhub.conf").read_text()
    assert f"NOTEBOOK_IMAGE=quay.io/jupyter/scipy-notebook:{new_tag}\n" in (site / ".env.example").read_text()
    assert (site / ".env").read_text() == env_before, "site-owned .env is never touched"
    assert (site / "userlist").read_text().endswith("bob\n")
    assert json.loads((site / ".cruft.json").read_text())["commit"] == git(template_repo, "rev-parse", "HEAD")
    assert not list(site.rglob("*.rej")) and "<<<<<<<" not in config
    assert run(["cruft", "check"], site, environment).returncode == 0, "up to date afterwards"


def make_template_update(site, environment):
    return run(["make", "--no-print-directory", "template-update"], site, environment)


def test_make_template_update_applies_a_clean_update(site, template_repo, environment):
    edit(template_repo / "{{cookiecutter.project_slug}}" / "hub" / "jupyterhub_config.py",
         "c.JupyterHub.allow_named_servers = False\n",
         "c.JupyterHub.allow_named_servers = False\n# Added by a newer template.\nc.JupyterHub.shutdown_on_logout = False\n")
    git(template_repo, "commit", "-q", "-am", "new template")
    result = make_template_update(site, environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "files updated from the template (not committed)" in result.stdout
    assert "c.JupyterHub.shutdown_on_logout = False" in (site / "hub" / "jupyterhub_config.py").read_text()


def test_make_template_update_with_conflicts_changes_nothing(site, template_repo, environment):
    """Site and template changed the same line: one line naming the file, the tree exactly as it was."""
    edit(site / "nginx" / "jupyterhub.conf", "client_max_body_size 100m;", "client_max_body_size 500m;")
    git(site, "commit", "-q", "-am", "site: bigger uploads")
    edit(template_repo / "{{cookiecutter.project_slug}}" / "nginx" / "jupyterhub.conf",
         "client_max_body_size 100m;", "client_max_body_size 200m;")
    git(template_repo, "commit", "-q", "-am", "template: bigger uploads too")
    head, state = git(site, "rev-parse", "HEAD"), (site / ".cruft.json").read_text()
    result = make_template_update(site, environment)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("template-update:")]
    assert len(lines) == 1 and "conflict with this site's edits in nginx/jupyterhub.conf; nothing was changed" in lines[0], result.stderr
    assert git(site, "status", "--porcelain") == "", "the work tree is exactly as it was"
    assert git(site, "rev-parse", "HEAD") == head and (site / ".cruft.json").read_text() == state
    assert "client_max_body_size 500m;" in (site / "nginx" / "jupyterhub.conf").read_text()


def test_make_template_update_refuses_a_dirty_tree(site, environment):
    (site / "userlist").write_text("someone\n")
    edit(site / "hub" / "jupyterhub_config.py", "c.JupyterHub.allow_named_servers = False", "c.JupyterHub.allow_named_servers = True")
    result = make_template_update(site, environment)
    assert result.returncode != 0
    assert "template-update: the work tree has uncommitted changes" in result.stderr
