"""GitHub login through nginx against a local server that speaks GitHub's OAuth and REST API.

A second deployment, generated with the GitHub authenticator and pointed at the
stand-in through OAuthenticator's GitHub Enterprise setting (GITHUB_URL in .env).
The stand-in runs as a container on the deployment's network, so the hub reaches
it by name, and publishes the same port on loopback for the test's browser side.
"""

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from e2e_helpers import new_session, pins, run, site_lifecycle

HERE = Path(__file__).resolve().parent
NETWORK = "jh-e2e-gh-network"
FAKE_HOST, FAKE_PORT = "github.e2e.test", 18090
FAKE_CONTAINER = "jh-e2e-fake-github"
CLIENT_ID, CLIENT_SECRET = "Ov23liE2eClientId", "e2e0123456789abcdef0123456789abcdef0123"


def start_fake_github(site):
    """The GitHub stand-in, on the site's network under FAKE_HOST and on loopback for the browser side."""
    run(["docker", "rm", "-f", FAKE_CONTAINER], check=False)
    run(["docker", "run", "-d", "--name", FAKE_CONTAINER, "--network", NETWORK, "--network-alias", FAKE_HOST,
         "-p", f"127.0.0.1:{FAKE_PORT}:{FAKE_PORT}", "-v", f"{HERE / 'fake_github.py'}:/fake_github.py:ro",
         pins()["hub_image"], "python3", "/fake_github.py", "--port", str(FAKE_PORT), "--users", "alice,carol,mallory",
         "--org-members", "research:carol", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])


@pytest.fixture(scope="module")
def github_site(tmp_path_factory, phase_times):
    try:
        yield from site_lifecycle(tmp_path_factory, phase_times, "github", {
            "project_name": "GitHub E2E", "hostname": "hub.gh.e2e.test", "authenticator": "github",
            "github_client_id": CLIENT_ID, "github_client_secret": CLIENT_SECRET,
            "github_allowed_organizations": "research", "admin_users": "alice", "allowed_users": "",
            "notebook_image_flavor": "base-notebook", "http_port": "28080", "https_port": "28443",
            "docker_network": NETWORK, "data_volume": "jh-e2e-gh-data",
        }, env={
            # A second deployment on this host: its own container and volume names.
            "GITHUB_URL": f"http://{FAKE_HOST}:{FAKE_PORT}", "USER_CONTAINER_PREFIX": "gh", "USER_VOLUME_PREFIX": "gh-user",
        }, before_up=start_fake_github)
    finally:
        print(run(["docker", "logs", "--tail", "80", FAKE_CONTAINER], check=False).stderr)
        run(["docker", "rm", "-f", FAKE_CONTAINER], check=False)


def github_login(site, login):
    """The browser's path: hub -> GitHub authorize (user signs in) -> hub callback."""
    session = new_session(site.cafile)
    start = session.get(f"{site.url}/hub/oauth_login", allow_redirects=False, timeout=30)
    assert start.status_code == 302, start.status_code
    authorize = start.headers["Location"]
    parts = urlsplit(authorize)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://{FAKE_HOST}:{FAKE_PORT}/login/oauth/authorize"
    query = parse_qs(parts.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{site.url}/hub/oauth_callback"]
    assert "read:org" in query["scope"][0]
    approved = session.get(authorize + f"&login={login}", allow_redirects=False, timeout=30)
    assert approved.status_code == 302, approved.text[:300]
    assert approved.headers["Location"].startswith(f"{site.url}/hub/oauth_callback?")
    return session, session.get(approved.headers["Location"], timeout=60)


def test_listed_user_logs_in(github_site):
    session, landing = github_login(github_site, "alice")
    assert landing.status_code == 200, landing.status_code
    me = session.get(f"{github_site.url}/hub/api/user", timeout=30).json()
    assert me["name"] == "alice" and me["admin"] is True


def test_organization_member_logs_in(github_site):
    session, landing = github_login(github_site, "carol")
    assert landing.status_code == 200
    assert session.get(f"{github_site.url}/hub/api/user", timeout=30).json()["name"] == "carol"


def test_outsider_is_refused(github_site):
    session, landing = github_login(github_site, "mallory")
    assert landing.status_code == 403
    assert session.get(f"{github_site.url}/hub/api/user", timeout=30).status_code in (401, 403)
