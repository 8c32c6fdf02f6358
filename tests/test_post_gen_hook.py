"""The post-generation hook: userlist, unused files, Docker network and volume."""

import shutil
import subprocess
import uuid

import pytest

from template_helpers import bake_ok


def test_userlist_lines(hook_post):
    assert hook_post.userlist_lines("Alice, bob", "carol  alice, DAVE") == ["alice admin", "bob admin", "carol", "dave"]
    assert hook_post.userlist_lines("", "") == []


def test_docker_absent_never_fails_generation(cookies, monkeypatch, tmp_path, capfd):
    monkeypatch.delenv("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker on PATH
    bake_ok(cookies, {})
    out = capfd.readouterr().out
    assert "Docker: skipped (the docker command is not installed); run `make network volumes` later" in out


def test_docker_daemon_not_answering(hook_post, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is required (make test installs it)")
    assert hook_post.docker_unavailable_reason() == "the Docker daemon does not answer"


def docker_engine_answers():
    return shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(not docker_engine_answers(), reason="needs a Docker engine (make e2e starts one; .ci/run runs this)")
def test_network_and_volume_created_once(hook_post, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", raising=False)
    name = f"jh-template-test-{uuid.uuid4().hex[:8]}"
    answers = {"docker_network": name, "data_volume": name}
    try:
        first = hook_post.prepare_docker(answers)
        second = hook_post.prepare_docker(answers)
        assert first == [f"Docker network {name}: created", f"Docker volume {name}: created"]
        assert second == [f"Docker network {name}: exists", f"Docker volume {name}: exists"]
    finally:
        subprocess.run(["docker", "network", "rm", name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", name], capture_output=True)


@pytest.mark.skipif(not docker_engine_answers(), reason="needs a Docker engine (make e2e starts one; .ci/run runs this)")
def test_swarm_network_skipped_on_an_engine_outside_a_swarm(hook_post, monkeypatch):
    """The overlay network needs a manager: elsewhere the hook says so and creates nothing."""
    monkeypatch.delenv("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", raising=False)
    if hook_post.is_swarm_manager():
        pytest.skip("this engine is a Swarm manager")
    name = f"jh-template-test-{uuid.uuid4().hex[:8]}"
    lines = hook_post.prepare_docker({"docker_network": name, "data_volume": name, "deployment_target": "swarm"})
    assert lines == ["Docker: skipped (this Docker engine is not a Swarm manager (`docker swarm init` makes it one)); "
                     "run `make network volumes` later"]
    assert subprocess.run(["docker", "network", "inspect", name], capture_output=True).returncode != 0


SWARM_ONLY = ["docker-stack.yml", "swarm.mk", "hub/swarm.py", "scripts/swarm.py"]


def test_options_remove_unused_files(hook_post):
    assert hook_post.unused_paths({"reverse_proxy": "host-nginx", "docker_socket_proxy": False, "tls_mode": "provided"}) == [
        "nginx/nginx.conf", "nginx/run-nginx.sh", "certbot", "docker-proxy", *SWARM_ONLY]
    assert hook_post.unused_paths({"reverse_proxy": "nginx-container", "docker_socket_proxy": True, "tls_mode": "self-signed"}) == [
        "scripts/host_nginx.py", "certbot", *SWARM_ONLY]
    assert hook_post.unused_paths({"reverse_proxy": "nginx-container", "docker_socket_proxy": True, "tls_mode": "letsencrypt"}) == [
        "scripts/host_nginx.py", *SWARM_ONLY]
    swarm = {"reverse_proxy": "nginx-container", "docker_socket_proxy": False, "tls_mode": "provided", "deployment_target": "swarm"}
    assert hook_post.unused_paths(swarm) == ["scripts/host_nginx.py", "certbot", "docker-proxy", "docker-compose.yml"]


def test_template_source_for_local_and_remote_templates(hook_post, tmp_path, monkeypatch):
    template = tmp_path / "template"
    template.mkdir()
    (template / "cookiecutter.json").write_text("{}")
    subprocess.run(["git", "-C", str(template), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(template), "-c", "user.name=t", "-c", "user.email=t@example.org",
                    "commit", "-q", "--allow-empty", "-m", "t"], check=True)
    commit = subprocess.run(["git", "-C", str(template), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    # `cookiecutter .` typed in the template folder: the hook runs elsewhere, $PWD says where.
    monkeypatch.setenv("PWD", str(template))
    monkeypatch.chdir(tmp_path)
    assert hook_post.template_source({"_template": ".", "_repo_dir": "."}) == (str(template), commit)
    # A cloned template (gh:org/repo): the clone's origin is the URL to update from.
    subprocess.run(["git", "-C", str(template), "remote", "add", "origin", "https://github.com/example/template.git"], check=True)
    answers = {"_template": "gh:example/template", "_repo_dir": str(template)}
    assert hook_post.template_source(answers) == ("https://github.com/example/template.git", commit)
    # Not a git checkout: nothing to record, and the hook says so instead of writing a broken file.
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "cookiecutter.json").write_text("{}")
    assert hook_post.write_cruft_state(tmp_path, {"_template": str(plain), "_repo_dir": str(plain)}).startswith(
        "template updates: not recorded")
    assert not (tmp_path / ".cruft.json").exists()
