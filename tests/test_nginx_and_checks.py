"""The generated nginx config under a real nginx, `make check`, certificates and .env secrets."""

import os
import shutil
import stat
import subprocess
import sys

import pytest

from template_helpers import bake_ok, env_secrets, require_command, variant_context


def make(project, *targets, env=None):
    return subprocess.run(["make", "-C", str(project), *targets], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))


def nginx_prefix(project, tmp_path):
    """An nginx conf dir laid out like /etc/nginx, holding the generated server block."""
    slug = project.name
    prefix = tmp_path / "etc-nginx"
    (prefix / "snippets").mkdir(parents=True)
    (prefix / "jupyterhub.d").mkdir()
    shutil.copy(project / "nginx" / "jupyterhub.conf", prefix / "jupyterhub.d" / "jupyterhub.conf")
    shutil.copy(project / "nginx" / "tls.conf", prefix / "snippets" / f"{slug}-tls.conf")
    shutil.copytree(project / "nginx" / "certs", prefix / "certs" / slug)
    (prefix / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        "  include jupyterhub.d/*.conf;\n}\n"
    )
    return prefix


@pytest.mark.parametrize("variant", ["defaults", "host-nginx", "socket-proxy"])
def test_nginx_accepts_the_generated_server_block(cookies, tmp_path, variant):
    project = bake_ok(cookies, variant_context(variant))
    assert make(project, "certs").returncode == 0
    prefix = nginx_prefix(project, tmp_path)
    result = require_command("nginx", "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf"))
    assert result.returncode == 0, result.stderr
    conf = (project / "nginx" / "jupyterhub.conf").read_text()
    assert "proxy_set_header Host $http_host;" in conf
    assert "proxy_buffering off;" in conf
    assert "return 308 https://" in conf


def test_redirect_keeps_a_non_default_https_port(cookies):
    project = bake_ok(cookies, variant_context("socket-proxy"))
    assert "return 308 https://hub.shared.example.org:8443$request_uri;" in (project / "nginx" / "jupyterhub.conf").read_text()


def test_certs_are_short_lived_and_fit_for_path_validation(cookies):
    project = bake_ok(cookies, {})
    assert make(project, "certs").returncode == 0
    leaf = subprocess.run(["openssl", "x509", "-in", str(project / "nginx/certs/fullchain.pem"), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "DNS:hub.example.org" in leaf and "TLS Web Server Authentication" in leaf
    ca = subprocess.run(["openssl", "x509", "-in", str(project / "nginx/test-ca/ca.crt"), "-noout", "-text"],
                        capture_output=True, text=True, check=True).stdout
    assert "CA:TRUE" in ca and "Certificate Sign, CRL Sign" in ca
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(project / "nginx/test-ca/ca.crt"),
                             str(project / "nginx/certs/fullchain.pem")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    days = subprocess.run(["openssl", "x509", "-in", str(project / "nginx/certs/fullchain.pem"), "-noout", "-checkend",
                           str(91 * 86400)], capture_output=True, text=True)
    assert days.returncode != 0, "the certificate must expire within 91 days"
    assert stat.S_IMODE((project / "nginx/certs/privkey.pem").stat().st_mode) == 0o600
    assert not (project / "nginx/certs/ca.key").exists(), "the CA key stays out of the folder nginx mounts"


def test_make_up_refuses_placeholder_github_credentials(cookies):
    project = bake_ok(cookies, {})
    make(project, "certs")
    result = make(project, "up")
    assert result.returncode != 0
    assert "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET not set in .env" in result.stderr
    assert "https://hub.example.org/hub/oauth_callback" in result.stderr
    assert "docker compose up" not in result.stdout


def test_make_check_passes_when_configured(cookies):
    project = bake_ok(cookies, variant_context("github-org"))
    (project / "nginx" / "certs").mkdir()
    make(project, "certs")
    result = subprocess.run([sys.executable, "scripts/check.py", "nginx-container"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    secret = "0123456789abcdef0123456789abcdef01234567"
    assert secret not in result.stdout + result.stderr


def test_make_check_names_userlist_errors(cookies):
    project = bake_ok(cookies, variant_context("local-trial"))
    make(project, "certs")
    with (project / "userlist").open("a") as handle:
        handle.write("eve superuser\n")
    result = subprocess.run([sys.executable, "scripts/check.py", "nginx-container"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 1
    assert "userlist:" in result.stderr and "unknown word 'superuser'" in result.stderr


@pytest.mark.parametrize("key, value, minimum", [
    ("SPAWN_TIMEOUT", "5m", 1), ("SPAWN_QUEUE_WIDTH", "-1", 0), ("CULL_EVERY", "0", 1), ("CONCURRENT_SPAWN_LIMIT", "lots", 0),
    ("DOCKER_API_THREADS", "0", 1), ("SPAWN_READY_POLL_MS", "0.5", 10)])
def test_make_check_names_a_bad_spawn_or_cull_number(cookies, key, value, minimum):
    project = bake_ok(cookies, variant_context("local-trial"))
    make(project, "certs")
    secrets = env_secrets()
    env_path = project / ".env"
    secrets.write_private(env_path, secrets.set_values(env_path.read_text(), {key: value}))
    result = subprocess.run([sys.executable, "scripts/check.py", "nginx-container"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {key}={value} in .env: use a whole number of at least {minimum}"]


def test_env_is_private_and_secrets_rotate(cookies):
    project = bake_ok(cookies, variant_context("local-trial"))
    env_path = project / ".env"
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    parse_env = env_secrets().parse_env

    before = parse_env(env_path.read_text())
    assert len(before["CONFIGPROXY_AUTH_TOKEN"]) == 64
    again = make(project, "secrets")
    assert "already set" in again.stdout
    assert parse_env(env_path.read_text()) == before
    rotated = subprocess.run([sys.executable, "scripts/env_secrets.py", "rotate"], cwd=project, capture_output=True, text=True)
    after = parse_env(env_path.read_text())
    for key in ("CONFIGPROXY_AUTH_TOKEN", "TRIAL_PASSWORD", "TRIAL_ADMIN_PASSWORD"):
        assert after[key] != before[key]
        assert after[key] not in rotated.stdout + rotated.stderr
    assert after["PUBLIC_HOSTNAME"] == before["PUBLIC_HOSTNAME"]
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600


def test_git_add_all_commits_no_secret(cookies):
    project = bake_ok(cookies, variant_context("github-org"))
    make(project, "certs")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=project, capture_output=True, text=True).stdout.split()
    assert ".env" not in staged and ".env.example" in staged
    assert not [name for name in staged if name.endswith((".pem", ".key"))]
    contents = "".join((project / name).read_text() for name in staged)
    assert "0123456789abcdef0123456789abcdef01234567" not in contents


def certbot_layout(project, root, hostname):
    """certbot's folder shape: live/<host>/*.pem are relative links into ../../archive/<host>/."""
    archive, live = root / "archive" / hostname, root / "live" / hostname
    issued = root / "issued"
    subprocess.run([str(project / "scripts" / "make-certs.sh"), hostname, str(issued), str(root / "ca")],
                   check=True, capture_output=True)
    archive.mkdir(parents=True)
    live.mkdir(parents=True)
    for name in ("fullchain", "privkey"):
        shutil.copy(issued / f"{name}.pem", archive / f"{name}1.pem")
        (live / f"{name}.pem").symlink_to(f"../../archive/{hostname}/{name}1.pem")
    return live


def assert_nginx_accepts(prefix, tmp_path):
    """`nginx -t` on the host's nginx, with prefix/jupyterhub.d/*.conf inside a minimal http block."""
    (prefix / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        "  include jupyterhub.d/*.conf;\n}\n")
    result = require_command("nginx", "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf"))
    assert result.returncode == 0, result.stderr


def test_certbot_live_folder_as_tls_cert_dir(cookies, tmp_path):
    """The README's TLS_CERT_DIR=/etc/letsencrypt/live/<host>: check passes, the archive is mounted beside it."""
    project = bake_ok(cookies, variant_context("github-org"))
    hostname = "hub.lab.example.org"
    live = certbot_layout(project, tmp_path / "letsencrypt", hostname)
    parse, secrets = env_secrets().parse_env, env_secrets()
    env_path = project / ".env"
    secrets.write_private(env_path, secrets.set_values(env_path.read_text(), {"TLS_CERT_DIR": str(live)}))
    assert parse(env_path.read_text())["TLS_CERT_DIR"] == str(live)
    check = subprocess.run([sys.executable, "scripts/check.py", "nginx-container", "provided"], cwd=project,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    shown = make(project, "-s", "--no-print-directory", "--eval", "show-archive: ; @echo \"$$TLS_ARCHIVE_DIR\"", "show-archive")
    assert shown.stdout.strip() == str(tmp_path / "letsencrypt" / "archive"), shown.stdout + shown.stderr
    # The nginx container's view (docker-compose.yml): TLS_CERT_DIR at certs/<slug>, the archive at archive/.
    prefix = tmp_path / "etc-nginx"
    (prefix / "snippets").mkdir(parents=True)
    (prefix / "jupyterhub.d").mkdir()
    shutil.copy(project / "nginx" / "jupyterhub.conf", prefix / "jupyterhub.d" / "jupyterhub.conf")
    shutil.copy(project / "nginx" / "tls.conf", prefix / "snippets" / f"{project.name}-tls.conf")
    shutil.copytree(live, prefix / "certs" / project.name, symlinks=True)
    shutil.copytree(tmp_path / "letsencrypt" / "archive", prefix / "archive")
    assert_nginx_accepts(prefix, tmp_path)


def test_check_names_a_certificate_link_nginx_cannot_follow(cookies, tmp_path):
    project = bake_ok(cookies, variant_context("github-org"))
    live = certbot_layout(project, tmp_path / "letsencrypt", "hub.lab.example.org")
    (live / "fullchain.pem").unlink()
    (live / "fullchain.pem").symlink_to(tmp_path / "letsencrypt" / "archive" / "hub.lab.example.org" / "fullchain1.pem")
    secrets = env_secrets()
    env_path = project / ".env"
    secrets.write_private(env_path, secrets.set_values(env_path.read_text(), {"TLS_CERT_DIR": str(live)}))
    check = subprocess.run([sys.executable, "scripts/check.py", "nginx-container", "provided"], cwd=project,
                           capture_output=True, text=True)
    assert check.returncode == 1
    assert "fullchain.pem links to" in check.stderr and "nginx's container cannot see" in check.stderr


def test_letsencrypt_server_block_serves_challenges_and_loads_certbot_files(cookies, tmp_path):
    project = bake_ok(cookies, variant_context("letsencrypt"))
    hostname = "hub.public.example.org"
    live = certbot_layout(project, tmp_path / "letsencrypt", hostname)
    conf = (project / "nginx" / "jupyterhub.conf").read_text()
    assert f"ssl_certificate     /etc/letsencrypt/live/{hostname}/fullchain.pem;" in conf
    assert conf.index("location ^~ /.well-known/acme-challenge/") < conf.index("return 308")
    prefix = tmp_path / "etc-nginx"
    (prefix / "snippets").mkdir(parents=True)
    (prefix / "jupyterhub.d").mkdir()
    (prefix / "jupyterhub.d" / "jupyterhub.conf").write_text(
        conf.replace("/etc/letsencrypt/", f"{tmp_path}/letsencrypt/").replace("/var/www/acme", str(tmp_path)))
    shutil.copy(project / "nginx" / "tls.conf", prefix / "snippets" / f"{project.name}-tls.conf")
    assert_nginx_accepts(prefix, tmp_path)
    assert live.is_dir()
    certs = make(project, "certs")
    assert certs.returncode == 0 and "nothing to do" in certs.stdout
    check = subprocess.run([sys.executable, "scripts/check.py", "nginx-container", "letsencrypt"], cwd=project,
                           capture_output=True, text=True)
    assert "LETSENCRYPT_EMAIL" not in check.stderr and "ACME_DIRECTORY_URL" not in check.stderr, check.stderr
