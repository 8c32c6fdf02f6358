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
# Files the site owns: template updates (`cruft update`) never diff them.
SITE_OWNED_FILES = [".cruft.json", ".env", "userlist"]
# Context entries that describe this machine, not the answers.
MACHINE_KEYS = ("_output_dir", "_repo_dir")
# Answers that are secrets end like this: .cruft.json is committed, so they are stored empty
# (their values live in .env, which updates never touch).
SECRET_ANSWER_SUFFIXES = ("_secret", "_password")


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
        "OIDC_CLIENT_ID": answers["oidc_client_id"] or OAUTH_PLACEHOLDER,
        "OIDC_CLIENT_SECRET": answers["oidc_client_secret"] or OAUTH_PLACEHOLDER,
    }
    return ensure_env(project / ".env", project / ".env.example", extra=extra)


def unused_paths(answers):
    """Files the chosen options do not need, relative to the project."""
    paths = []
    if answers["reverse_proxy"] == "host-nginx":
        paths += ["nginx/nginx.conf", "nginx/run-nginx.sh"]  # the container's main config and command
    else:
        paths.append("scripts/host_nginx.py")  # installs into an nginx on the host
    if answers["tls_mode"] != "letsencrypt":
        paths.append("certbot")
    if not answers["docker_socket_proxy"]:
        paths.append("docker-proxy")
    if answers.get("deployment_target") == "swarm":
        paths.append("docker-compose.yml")  # docker-stack.yml describes the services
    else:
        paths += ["docker-stack.yml", "swarm.mk", "hub/swarm.py", "scripts/swarm.py"]
    return paths


def remove_unused(project, answers):
    for relative in unused_paths(answers):
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def git_output(directory, *args):
    """A git command's output in `directory`, or None when it is not a git checkout."""
    try:
        result = subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def is_remote(template):
    return "://" in template or template.startswith(("gh:", "gl:", "bb:", "git@", "git+"))


def template_dir(repo_dir):
    """The template folder as an absolute path.  Cookiecutter passes a local template as typed
    (often "."), and runs this hook inside the new project: resolve it against the folder the
    command was started in ($PWD) or the one cookiecutter runs hooks from (its working folder)."""
    if Path(repo_dir).is_absolute():
        return repo_dir
    for base in (os.environ.get("PWD"), f"/proc/{os.getppid()}/cwd"):
        if base and (Path(base) / repo_dir / "cookiecutter.json").is_file():
            return str((Path(base) / repo_dir).resolve())
    return repo_dir


def template_source(answers):
    """(URL or absolute path, commit) of the template this project came from, or None for the
    commit when the template is not a git checkout (a zip or a plain folder)."""
    repo_dir = template_dir(answers.get("_repo_dir") or ".")
    commit = answers.get("_commit") or git_output(repo_dir, "rev-parse", "HEAD")
    if is_remote(answers.get("_template", "")):
        # cookiecutter cloned it: the clone's origin is the expanded URL (gh:org/repo -> https://...).
        url = git_output(repo_dir, "remote", "get-url", "origin") or answers["_template"]
    else:
        url = repo_dir
    return url, commit


def cruft_state(answers):
    """The .cruft.json content: `cruft update` and `cruft diff` read it to bring later template
    changes into this repo as a reviewable diff."""
    url, commit = template_source(answers)
    context = {key: "" if key.endswith(SECRET_ANSWER_SUFFIXES) else value
               for key, value in answers.items() if key not in MACHINE_KEYS}
    context.update(_template=url, _commit=commit)
    return {
        "template": url,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
        "skip": SITE_OWNED_FILES,
    }


def write_cruft_state(project, answers):
    """Record the template and commit; returns a summary line for the output."""
    state = cruft_state(answers)
    if not state["commit"]:
        return "template updates: not recorded (the template is not a git checkout)"
    (project / ".cruft.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return f"template updates: .cruft.json records {state['template']} at {state['commit'][:12]} (`cruft update`)"


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


# On Swarm the user network spans the nodes: an overlay that standalone containers
# (and `docker run` in scripts) may join too.
SWARM_NETWORK_OPTIONS = ("--driver", "overlay", "--attachable")


def is_swarm_manager():
    # (Split so that cookiecutter's Jinja leaves the Go template alone.)
    result = run_docker("info", "--format", "{" "{.Swarm.ControlAvailable}" "}")
    return result.returncode == 0 and result.stdout.strip() == "true"


def ensure_docker_object(kind, name, options=()):
    """Create a network or volume unless it exists; returns 'exists' or 'created'."""
    if run_docker(kind, "inspect", name).returncode == 0:
        return "exists"
    result = run_docker(kind, "create", *options, name)
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
    swarm = answers.get("deployment_target") == "swarm"
    if not reason and swarm and not is_swarm_manager():
        reason = "this Docker engine is not a Swarm manager (`docker swarm init` makes it one)"
    if reason:
        return [f"Docker: skipped ({reason}); run `make network volumes` later"]
    lines = []
    for kind, name in docker_objects(answers):
        options = SWARM_NETWORK_OPTIONS if swarm and kind == "network" else ()
        try:
            lines.append(f"Docker {kind} {name}: {ensure_docker_object(kind, name, options)}")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
            lines.append(f"Docker {kind} {name}: not created ({error}); run `make network volumes` later")
    return lines


def callback_url(answers):
    port = "" if answers["https_port"] == "443" else ":" + answers["https_port"]
    return f"https://{answers['hostname']}{port}/hub/oauth_callback"


def oidc_step(answers):
    """What is left to set for OpenID Connect login, or None."""
    missing = [name for name, answer in (("OIDC_ISSUER", "oidc_issuer"), ("OIDC_CLIENT_ID", "oidc_client_id"),
                                         ("OIDC_CLIENT_SECRET", "oidc_client_secret")) if not answers[answer]]
    if not missing:
        return None
    return (f"register a confidential OpenID Connect client at your provider (redirect URI {callback_url(answers)}) "
            f"and set {', '.join(missing)} in .env (groups: OIDC_ALLOWED_GROUPS, OIDC_ADMIN_GROUPS)")


def next_steps(answers):
    steps = []
    if answers["authenticator"] == "github" and not (answers["github_client_id"] and answers["github_client_secret"]):
        steps.append(
            f"create a GitHub OAuth app (callback URL {callback_url(answers)}) and set GITHUB_CLIENT_ID and "
            "GITHUB_CLIENT_SECRET in .env"
        )
    if answers["authenticator"] == "oidc" and oidc_step(answers):
        steps.append(oidc_step(answers))
    if answers["tls_mode"] == "self-signed":
        steps.append("make certs")
    elif answers["tls_mode"] == "letsencrypt":
        steps.append(f"point DNS for {answers['hostname']} at this host and open port 80 "
                     "(`make up` then gets the certificate from Let's Encrypt)")
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
    print(f"  {write_cruft_state(project, answers)}")
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
