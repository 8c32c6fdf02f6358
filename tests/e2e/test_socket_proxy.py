"""The Docker socket proxy option: spawning works, anything else on the Docker API is refused."""

import json

import pytest

from e2e_helpers import pins, site_lifecycle, wait_until, xsrf_headers


@pytest.fixture(scope="module")
def proxied_site(tmp_path_factory, phase_times):
    yield from site_lifecycle(tmp_path_factory, phase_times, "socket_proxy", {
        "project_name": "Proxy E2E", "hostname": "hub.proxy.e2e.test", "authenticator": "local-trial",
        "admin_users": "admin", "allowed_users": "carol", "docker_socket_proxy": True,
        "admins_can_access_servers": False,
        "notebook_image_flavor": "base-notebook", "http_port": "38080", "https_port": "38443",
        "docker_network": "jh-e2e-proxy-network", "data_volume": "jh-e2e-proxy-data",
    }, env={"USER_CONTAINER_PREFIX": "proxy", "USER_VOLUME_PREFIX": "proxy-user"}, images=[pins()["socket_proxy_image"]])


def docker_api_from_hub(site, method, path, body=None):
    """Call the Docker API the way DockerSpawner does, from inside the hub container; returns the status."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        f"request = urllib.request.Request('http://docker-proxy:2375{path}', method='{method}',"
        f" data={json.dumps(json.dumps(body)) + '.encode()' if body is not None else 'None'},"
        " headers={'Content-Type': 'application/json'})\n"
        "try:\n    print(urllib.request.urlopen(request, timeout=30).status)\n"
        "except urllib.error.HTTPError as error:\n    print(error.code)\n"
    )
    return int(site.compose("exec", "-T", "hub", "python3", "-c", script).stdout.strip().splitlines()[-1])


def test_the_hub_has_no_docker_socket(proxied_site):
    result = proxied_site.compose("exec", "-T", "hub", "test", "-e", "/var/run/docker.sock", check=False)
    assert result.returncode == 1


def test_spawning_works_through_the_proxy(proxied_site):
    carol = proxied_site.login("carol")
    response = carol.post(f"{proxied_site.url}/hub/api/users/carol/server", headers=xsrf_headers(carol), timeout=60)
    assert response.status_code in (201, 202), response.text

    def ready():
        return (carol.get(f"{proxied_site.url}/hub/api/users/carol", timeout=30).json()["servers"].get("") or {}).get("ready")

    wait_until(ready, 300, "carol's server through the Docker socket proxy")
    page = carol.get(f"{proxied_site.url}/user/carol/lab", timeout=60)
    assert page.status_code == 200 and page.url.startswith(f"{proxied_site.url}/user/carol/")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/v1.41/volumes", None),
        ("GET", "/v1.41/containers/json", None),
        ("POST", "/v1.41/containers/proxy-carol/exec", {"Cmd": ["id"]}),
        ("GET", "/v1.41/info", None),
        ("POST", "/v1.41/build", None),
        ("GET", "/v1.41/secrets", None),
        ("POST", "/v1.41/containers/create", {"Image": "x", "HostConfig": {"Privileged": True}}),
        ("POST", "/v1.41/containers/create", {"Image": "x", "HostConfig": {"Binds": ["/:/host"]}}),
        ("POST", "/v1.41/containers/create", {"Image": "x", "HostConfig": {"PidMode": "host"}}),
        ("POST", "/v1.41/containers/create", {"Image": "x", "HostConfig": {"CapAdd": ["SYS_ADMIN"]}}),
    ],
)
def test_forbidden_calls_are_refused(proxied_site, method, path, body):
    assert docker_api_from_hub(proxied_site, method, path, body) == 403


def test_operators_manage_but_cannot_open_servers(proxied_site):
    """admins_can_access_servers = no: the admin has the admin panel, not carol's notebooks."""
    admin = proxied_site.login("admin")  # an operator, not a JupyterHub admin: the user password
    users = admin.get(f"{proxied_site.url}/hub/api/users", timeout=30)
    assert users.status_code == 200 and "carol" in {user["name"] for user in users.json()}
    assert admin.get(f"{proxied_site.url}/hub/admin", timeout=30).status_code == 200
    response = admin.get(f"{proxied_site.url}/user/carol/lab", timeout=60)
    assert response.status_code == 403 or response.url.startswith(f"{proxied_site.url}/user/admin/"), response.url
    token = admin.post(f"{proxied_site.url}/hub/api/users/carol/tokens", headers=xsrf_headers(admin), json={}, timeout=30)
    assert token.status_code == 403


def test_allowed_calls_pass(proxied_site):
    assert docker_api_from_hub(proxied_site, "GET", "/version") == 200
    assert docker_api_from_hub(proxied_site, "GET", "/v1.41/containers/proxy-carol/json") == 200
