"""Tuning of the generated site, on one small running site (socket proxy, so every service is there):
images pulled before anything starts (`make images`, part of `make up`); CPU weights of the
site's services above a user container's; TLS sessions resumed by nginx."""

import json
import socket
import ssl

import pytest

from e2e_helpers import pins, run, set_env, site_lifecycle, start_server

PROJECT = "jh-tune-deploy"
HOSTNAME, HTTPS_PORT = "hub.tune.e2e.test", 19243
ABSENT_IMAGE = "quay.io/jupyter/jh-tune-absent-notebook:2026-01-01"


def make_up_with_an_absent_notebook_image(site):
    """Before the real `make up`: the same with NOTEBOOK_IMAGE naming an image no registry has."""
    present = site.env["NOTEBOOK_IMAGE"]
    set_env(site, NOTEBOOK_IMAGE=ABSENT_IMAGE)
    site.absent_image_up = site.make("up", check=False)
    site.absent_image_containers = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"]).stdout.split()
    set_env(site, NOTEBOOK_IMAGE=present)


@pytest.fixture(scope="module")
def tuned_site(tmp_path_factory, phase_times):
    yield from site_lifecycle(tmp_path_factory, phase_times, "tuning", {
        "project_name": "JH Tune", "project_slug": PROJECT, "hostname": HOSTNAME,
        "authenticator": "local-trial", "admin_users": "admin", "allowed_users": "tina", "docker_socket_proxy": True,
        "notebook_image_flavor": "base-notebook", "http_port": "19280", "https_port": str(HTTPS_PORT),
        "docker_network": "jh-tune-network", "data_volume": "jh-tune-data",
    }, env={"USER_CONTAINER_PREFIX": "jh-tune", "USER_VOLUME_PREFIX": "jh-tune-user"},
        images=[pins()["socket_proxy_image"]], before_up=make_up_with_an_absent_notebook_image)


def test_an_absent_image_stops_make_up_with_one_line_before_anything_starts(tuned_site):
    result = tuned_site.absent_image_up
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(errors) == 1 and ABSENT_IMAGE in errors[0] and "cannot pull" in errors[0], result.stderr
    assert "nothing was started" in errors[0]
    assert tuned_site.absent_image_containers == [], "no container of the site was created"
    assert "check:" not in result.stdout, "it stops before the checks run anything"


def test_with_every_image_present_nothing_is_pulled(tuned_site):
    # No registry answers on this machine: the `make up` that started this site would have
    # failed on any pull.  `make images` says so explicitly.
    output = [line for line in tuned_site.make("images").stdout.splitlines() if not line.startswith("make")]
    assert output == ["images: 4 present, none pulled"], output


def cpu_shares(container):
    return json.loads(run(["docker", "inspect", container]).stdout)[0]["HostConfig"]["CpuShares"]


def test_the_sites_services_outweigh_a_user_container_on_the_cpu(tuned_site):
    weights = {service: cpu_shares(tuned_site.compose("ps", "-q", service).stdout.strip())
               for service in ("hub", "nginx", "docker-proxy")}
    assert weights == {"hub": 4096, "nginx": 2048, "docker-proxy": 2048}
    tina = tuned_site.login("tina")
    start_server(tina, "tina")
    # 0: the engine's default weight, 1024.
    assert cpu_shares("jh-tune-tina") in (0, 1024)


def fetch_over_tls(context, session=None):
    """One HTTPS request on a new connection (offering `session`); returns the connection's session
    and whether the server resumed it.  The response is read to the end: a TLS 1.3 server sends
    its session ticket after the handshake."""
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname=HOSTNAME, session=session) as tls:
        tls.sendall(f"GET /hub/login HTTP/1.1\r\nHost: {HOSTNAME}:{HTTPS_PORT}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        return tls.session, tls.session_reused


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_nginx_resumes_tls_sessions(tuned_site, version):
    """A returning browser skips the full handshake (ssl_session_cache in nginx/tls.conf)."""
    context = ssl.create_default_context(cafile=tuned_site.cafile)
    context.minimum_version = context.maximum_version = version
    session, reused = fetch_over_tls(context)
    assert not reused and session is not None
    _, reused = fetch_over_tls(context, session)
    assert reused, f"nginx did not resume a {version.name} session"
