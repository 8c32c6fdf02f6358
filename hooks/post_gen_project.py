"""Finish the generated deployment: userlist, .env secrets, unused files, Docker.

Never fails generation because of Docker: without a CLI or an answering
daemon (or with JUPYTERHUB_TEMPLATE_SKIP_DOCKER=1) it says what it skipped
and which command to run later.  Valid Python before rendering; the tests
import its functions.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS_JSON = r"""
{{ cookiecutter | tojson }}
"""

SKIP_DOCKER_VARIABLE = "JUPYTERHUB_TEMPLATE_SKIP_DOCKER"
OAUTH_PLACEHOLDER = "CHANGE_ME"


def split_names(text):
    """Comma- or whitespace-separated names, lower-cased, first occurrence kept."""
    names = []
    for word in text.replace(",", " ").split():
        name = word.lower()
        if name not in names:
            names.append(name)
    return names


def userlist_lines(admin_users, allowed_users):
    """Lines for the userlist: admins first (`name admin`), then the others."""
    admins = split_names(admin_users)
    others = [name for name in split_names(allowed_users) if name not in admins]
    return [f"{name} admin" for name in admins] + others


def write_userlist(project, answers):
    path = project / "userlist"
    lines = userlist_lines(answers["admin_users"], answers["allowed_users"])
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)
    return lines


def write_env(project, answers):
    """Create .env (mode 600) with generated secrets and the OAuth answers."""
    sys.path.insert(0, str(project / "scripts"))
    from env_secrets import ensure_env

    extra = {
        "GITHUB_CLIENT_ID": answers["github_client_id"] or OAUTH_PLACEHOLDER,
        "GITHUB_CLIENT_SECRET": answers["github_client_secret"] or OAUTH_PLACEHOLDER,
    }
    return ensure_env(project / ".env", project / ".env.example", extra=extra)


def unused_paths(answers):
    """Files the chosen options do not need, relative to the project."""
    paths = []
    if answers["reverse_proxy"] == "host-nginx":
        paths.append("nginx/nginx.conf")  # the container's main config
    if not answers["docker_socket_proxy"]:
        paths.append("docker-proxy")
    return paths


def remove_unused(project, answers):
    for relative in unused_paths(answers):
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run_docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


def docker_unavailable_reason():
    """Why Docker cannot be used now, or None when the daemon answers."""
    if os.environ.get(SKIP_DOCKER_VARIABLE) == "1":
        return f"{SKIP_DOCKER_VARIABLE}=1 is set"
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        if run_docker("info").returncode != 0:
            return "the Docker daemon does not answer"
    except (OSError, subprocess.TimeoutExpired):
        return "the Docker daemon does not answer"
    return None


def ensure_docker_object(kind, name):
    """Create a network or volume unless it exists; returns 'exists' or 'created'."""
    if run_docker(kind, "inspect", name).returncode == 0:
        return "exists"
    result = run_docker(kind, "create", name)
    if result.returncode != 0:
        raise RuntimeError(f"docker {kind} create {name} failed: {result.stderr.strip()}")
    return "created"


def database_volume(answers):
    """The PostgreSQL service's external volume (DB_VOLUME in .env), or None with SQLite."""
    if answers.get("database") == "postgresql":
        return answers["data_volume"] + "-postgres"
    return None


def docker_objects(answers):
    """(kind, name) of the external network and volumes the stack needs."""
    objects = [("network", answers["docker_network"]), ("volume", answers["data_volume"])]
    if database_volume(answers):
        objects.append(("volume", database_volume(answers)))
    return objects


def prepare_docker(answers):
    """Create the network and the volumes; returns lines for the summary."""
    reason = docker_unavailable_reason()
    if reason:
        return [f"Docker: skipped ({reason}); run `make network volumes` later"]
    lines = []
    for kind, name in docker_objects(answers):
        try:
            lines.append(f"Docker {kind} {name}: {ensure_docker_object(kind, name)}")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            lines.append(f"Docker {kind} {name}: not created ({error}); run `make network volumes` later")
    return lines


def next_steps(answers):
    steps = []
    if answers["authenticator"] == "github" and not (answers["github_client_id"] and answers["github_client_secret"]):
        port = "" if answers["https_port"] == "443" else ":" + answers["https_port"]
        steps.append(
            "create a GitHub OAuth app (callback URL "
            f"https://{answers['hostname']}{port}/hub/oauth_callback) and set GITHUB_CLIENT_ID and "
            "GITHUB_CLIENT_SECRET in .env"
        )
    if answers["tls_mode"] == "self-signed":
        steps.append("make certs")
    else:
        steps.append("put fullchain.pem and privkey.pem in nginx/certs/ (or set TLS_CERT_DIR in .env)")
    steps.append("make up")
    if answers["reverse_proxy"] == "host-nginx":
        steps.append("sudo make host-nginx-install")
    return steps


def main():
    answers = json.loads(ANSWERS_JSON)
    project = Path.cwd()
    users = write_userlist(project, answers)
    generated = write_env(project, answers)
    remove_unused(project, answers)
    print(f"\nGenerated {project}")
    print(f"  userlist: {len(users)} users; .env: generated {', '.join(generated) or 'nothing'} (mode 600, git-ignored)")
    for line in prepare_docker(answers):
        print(f"  {line}")
    if answers["authenticator"] == "local-trial":
        print("  login: local trial; shared passwords TRIAL_PASSWORD (users) and TRIAL_ADMIN_PASSWORD (admins) in .env; not for production")
    print("Next steps:")
    print(f"  cd {project.name}")
    for step in next_steps(answers):
        print(f"  {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
