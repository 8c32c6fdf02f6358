"""Generation over every variant file and every supported option combination."""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from template_helpers import TEMPLATE_DIR, bake_ok, pins, require_command, template_defaults, variant_context, variant_names

COMBINATIONS = [
    dict(zip(("authenticator", "reverse_proxy", "docker_socket_proxy", "tls_mode"), values, strict=False))
    for values in itertools.product(
        ("github", "local-trial"), ("nginx-container", "host-nginx"), (False, True),
        ("self-signed", "provided", "letsencrypt"),
    )
    # Let's Encrypt answers HTTP-01 through the nginx container (the hook refuses host-nginx).
    if not (values[1] == "host-nginx" and values[3] == "letsencrypt")
]
LEFTOVER_JINJA = re.compile(r"\{\{|\{%|\{#|cookiecutter\.")


CHOICES = {name: options for name, options in template_defaults().items() if isinstance(options, list)}
# Each notebook flavor once (custom needs an image of its own).
FLAVORS = [{"notebook_image_flavor": flavor} if flavor != "custom" else
           {"notebook_image_flavor": "custom", "notebook_image": "registry.example.org/lab/notebook:2026.1"}
           for flavor in CHOICES["notebook_image_flavor"]]


def combination_id(context):
    return "-".join(str(value) for value in context.values())


def generated_files(project):
    return [path for path in project.rglob("*") if path.is_file()]


def services_file(project):
    """docker-stack.yml with deployment_target swarm, else docker-compose.yml."""
    stack = project / "docker-stack.yml"
    return stack if stack.exists() else project / "docker-compose.yml"


def assert_project_is_sound(project):
    for path in generated_files(project):
        text = path.read_text(encoding="utf-8")
        assert not LEFTOVER_JINJA.search(text), f"template syntax left in {path.relative_to(project)}"
        if path.suffix == ".py":
            compile(text, str(path), "exec")
    lint = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-c", str(project / ".yamllint"), str(project)],
        capture_output=True, text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    compose = require_command("docker", "compose", "--project-directory", str(project), "-f", str(services_file(project)), "config", "-q")
    assert compose.returncode == 0, compose.stderr
    settings = subprocess.run([sys.executable, str(project / "scripts" / "check_settings.py")], capture_output=True, text=True)
    assert settings.returncode == 0, settings.stderr


@pytest.mark.parametrize("variant", variant_names())
def test_every_variant_generates_a_sound_project(cookies, variant):
    project = bake_ok(cookies, variant_context(variant))
    assert_project_is_sound(project)


@pytest.mark.parametrize("context", COMBINATIONS, ids=combination_id)
def test_every_option_combination_generates_a_sound_project(cookies, context):
    letsencrypt = context["tls_mode"] == "letsencrypt"
    project = bake_ok(cookies, {**context, "letsencrypt_email": "ops@example.org"} if letsencrypt else context)
    assert_project_is_sound(project)
    has_nginx_service = "\n  nginx:\n" in (project / "docker-compose.yml").read_text()
    assert has_nginx_service == (context["reverse_proxy"] == "nginx-container")
    assert (project / "nginx" / "nginx.conf").exists() == (context["reverse_proxy"] == "nginx-container")
    assert (project / "docker-proxy").exists() == context["docker_socket_proxy"]
    assert (project / "certbot" / "certbot.sh").exists() == letsencrypt
    assert (project / "nginx" / "run-nginx.sh").exists() == (context["reverse_proxy"] == "nginx-container")
    compose, env_example = (project / "docker-compose.yml").read_text(), (project / ".env.example").read_text()
    assert ("\n  certbot:\n" in compose) == letsencrypt == ("CERTBOT_IMAGE=" in env_example)
    assert ("TLS_CERT_DIR=" in env_example) != letsencrypt


@pytest.mark.parametrize("context", FLAVORS, ids=lambda context: context["notebook_image_flavor"])
def test_every_notebook_flavor_generates_its_pinned_image(cookies, context):
    project = bake_ok(cookies, context)
    assert_project_is_sound(project)
    expected = context.get("notebook_image") or f"quay.io/jupyter/{context['notebook_image_flavor']}:{pins()['notebook_tag']}"
    assert f"NOTEBOOK_IMAGE={expected}\n" in (project / ".env").read_text()


def test_every_choice_value_is_generated_by_a_test():
    """A new choice value in cookiecutter.json must be added to COMBINATIONS, FLAVORS or a variant."""
    contexts = COMBINATIONS + FLAVORS + [variant_context(name) for name in variant_names()]
    for name, options in CHOICES.items():
        generated = {context.get(name, options[0]) for context in contexts}
        assert generated == set(options), f"{name}: never generated: {set(options) - generated}"


def test_the_hook_checks_choices_against_cookiecutter_json(hook_pre):
    answers = {name: options[0] for name, options in CHOICES.items()} | {"admins_can_access_servers": True, "docker_socket_proxy": "maybe"}
    with pytest.raises(hook_pre.AnswerError, match="docker_socket_proxy = 'maybe': yes or no"):
        hook_pre.check_choices(answers, template_defaults())
    answers.update(docker_socket_proxy=False, tls_mode="letsencrypt-magic")
    with pytest.raises(hook_pre.AnswerError, match="tls_mode = 'letsencrypt-magic': one of "):
        hook_pre.check_choices(answers, template_defaults())


def test_defaults_layout_and_pins(cookies):
    project = bake_ok(cookies, {})
    expected = [
        "docker-compose.yml", "Makefile", "README.md", ".env", ".env.example", ".gitignore", ".yamllint",
        "userlist", "hub/Dockerfile", "hub/jupyterhub_config.py", "hub/userlist.py", "hub/requirements.txt",
        "nginx/jupyterhub.conf", "nginx/tls.conf", "nginx/http2.conf", "nginx/nginx.conf",
        "scripts/check.py", "scripts/env_secrets.py", "scripts/make-certs.sh", "scripts/smoke.py",
        ".github/workflows/check.yml",
    ]
    missing = [name for name in expected if not (project / name).is_file()]
    assert not missing
    versions = pins()
    requirements = (project / "hub" / "requirements.txt").read_text()
    for package in ("jupyterhub", "dockerspawner", "oauthenticator"):
        assert f"{package}=={versions[package]}\n" in requirements
    env_example = (project / ".env.example").read_text()
    assert f"JUPYTERHUB_IMAGE={versions['hub_image']}\n" in env_example
    assert f"NOTEBOOK_IMAGE=quay.io/jupyter/scipy-notebook:{versions['notebook_tag']}\n" in env_example
    assert f"NGINX_IMAGE={versions['nginx_image']}\n" in env_example
    assert versions["certbot_image"].startswith("certbot/certbot:v"), "upstream tags carry a v"
    assert versions["hub_image"].endswith(":" + versions["jupyterhub"]), "hub image and jupyterhub package must match"
    compose = (project / "docker-compose.yml").read_text()
    assert "version:" not in compose


def test_scripts_are_executable(cookies):
    project = bake_ok(cookies, {})
    assert os.access(project / "scripts" / "make-certs.sh", os.X_OK)


def test_generation_from_a_git_url(tmp_path):
    """As `cookiecutter gh:org/repo` does: clone, then run the hooks from the clone."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, repo, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache", "build"))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "template"], check=True)
    output = tmp_path / "out"
    env = dict(os.environ, JUPYTERHUB_TEMPLATE_SKIP_DOCKER="1", HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output), f"git+file://{repo}",
         "--config-file", str(repo / "variants" / "local-trial.yaml")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    project = output / "trial-hub-deploy"
    assert (project / ".env").is_file()
    assert "admin admin" in (project / "userlist").read_text()
    assert "make network volumes" in result.stdout


@pytest.mark.parametrize("variant", variant_names())
def test_compose_lint_finds_nothing_high_or_critical(cookies, variant):
    """compose-lint, an independent linter: only the Docker socket holder is excused, with a reason."""
    project = bake_ok(cookies, variant_context(variant))
    result = subprocess.run(
        [sys.executable, "-m", "compose_lint", "check", "--format", "json", "--strict-config",
         "--config", str(project / ".compose-lint.yml"), str(services_file(project))],
        capture_output=True, text=True, cwd=project,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    findings = json.loads(result.stdout)["findings"]
    serious = [finding for finding in findings if finding["severity"] in ("high", "critical")]
    assert all(finding["suppressed"] for finding in serious), serious
    socket_holders = {finding["service"] for finding in serious}
    proxy = variant_context(variant).get("docker_socket_proxy", False)
    assert socket_holders == {"docker-proxy" if proxy else "hub"}
    assert {finding["rule_id"] for finding in serious} == {"CL-0001"}


def workflow_steps(project):
    """The `run:` commands of the generated GitHub Actions workflow, in order."""
    workflow = yaml.safe_load((project / ".github" / "workflows" / "check.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    assert workflow["permissions"] == {"contents": "read"}, "a checks-only workflow needs no write access or secrets"
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert not any("secrets." in json.dumps(step) for step in steps)
    return [step["run"] for step in steps if "run" in step]


def test_the_workflow_installs_the_linters_the_template_tests_with(cookies):
    project = bake_ok(cookies, {})
    install = [command for command in workflow_steps(project) if "pip install" in command]
    dev_pins = (TEMPLATE_DIR / "pyproject.toml").read_text()
    for package, key in (("yamllint", "yamllint"), ("compose-lint", "compose_lint")):
        assert f"{package}=={pins()[key]}" in install[0]
        assert f'"{package}=={pins()[key]}"' in dev_pins, f"pyproject.toml and _pins disagree on {package}"


@pytest.fixture(scope="session")
def nginx_image():
    """The pinned nginx image `make lint` runs nginx -t in (a local stand-in when no registry answers)."""
    if require_command("docker", "info").returncode != 0:
        pytest.fail("no Docker engine answers; run the tests through `make test` (it starts one)")
    from standins import ensure_images

    ensure_images([pins()["nginx_image"]])
    return pins()["nginx_image"]


@pytest.mark.parametrize("variant", variant_names())
def test_every_variant_passes_its_own_ci_workflow(cookies, variant, nginx_image):
    """The fork's CI on a fresh clone: no .env (it is git-ignored), every `run:` step of the workflow."""
    project = bake_ok(cookies, variant_context(variant))
    (project / ".env").unlink()
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")
    for command in workflow_steps(project):
        if "pip install" in command:
            continue  # the venv has the same pins (test above)
        result = subprocess.run(command, shell=True, cwd=project, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert f"lint: nginx -t passes in {nginx_image}" in result.stdout
    assert "lint: compose-lint finds nothing high or critical" in result.stdout


def test_lint_fails_on_a_broken_server_block(cookies, nginx_image):
    project = bake_ok(cookies, variant_context("host-nginx"))
    conf = project / "nginx" / "jupyterhub.conf"
    conf.write_text(conf.read_text().replace("proxy_buffering off;", "proxy_buffering off"))
    result = subprocess.run(["make", "lint", f"PYTHON={sys.executable}"], cwd=project, capture_output=True, text=True)
    assert result.returncode != 0
    assert 'invalid number of arguments in "proxy_buffering"' in result.stderr
