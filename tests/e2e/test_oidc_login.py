"""OpenID Connect login through nginx against a real OpenID Provider, in a real browser.

The provider is the npm library oidc-provider (tests/images/oidc-provider/): HTTPS
with a certificate from this test's CA, in-memory accounts with passwords and a
`groups` claim, one confidential client.  It runs as a container on the site's
network under PROVIDER_HOST (the hub reads discovery, token and userinfo there,
trusting the test CA through hub/oidc-ca/ca.pem) and publishes the same port on
loopback for headless Chromium, which fills in the provider's login and consent
forms.  Accounts:

    alice    no groups          allowed by the userlist
    carol    researchers        allowed by OIDC_ALLOWED_GROUPS: gets a server
    dave     hub-admins         admin by OIDC_ADMIN_GROUPS
    mallory  visitors           in no allowed group: 403
"""

import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from e2e_helpers import (
    launcher_or_reload,
    new_session,
    open_page,
    run,
    save_artifacts,
    site_lifecycle,
    start_chromium,
    wait_for_page,
    wait_until,
)
from standins import OIDC_PROVIDER_IMAGE
from tls_helpers import issue_server_certificate

HOSTNAME, HTTP_PORT, HTTPS_PORT = "hub.oidc.e2e.test", 45080, 45443
PROVIDER_HOST, PROVIDER_PORT = "id.oidc.e2e.test", 45010
ISSUER = f"https://{PROVIDER_HOST}:{PROVIDER_PORT}"
PROVIDER_CONTAINER = "jh-e2e-oidc-provider"
NETWORK, VOLUME = "jh-e2e-oidc-network", "jh-e2e-oidc-data"
CLIENT_ID, CLIENT_SECRET = "jupyterhub-e2e", "e2e-oidc-client-secret-0123456789abcdef"
ACCOUNTS = {
    "alice": {"password": "alice-password-1", "groups": []},
    "carol": {"password": "carol-password-2", "groups": ["researchers"]},
    "dave": {"password": "dave-password-3", "groups": ["hub-admins", "researchers"]},
    "mallory": {"password": "mallory-password-4", "groups": ["visitors"]},
}


@pytest.fixture(scope="module")
def provider_tls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oidc-provider")
    ca, _, _ = issue_server_certificate(folder, [PROVIDER_HOST])
    return folder, ca


def start_provider(folder):
    def before_up(site):
        (folder / "config.json").write_text(json.dumps({
            "issuer": ISSUER, "port": PROVIDER_PORT, "tls": {"cert": "cert.pem", "key": "key.pem"},
            "client": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [f"{site.url}/hub/oauth_callback"]},
            "accounts": ACCOUNTS,
        }))
        (folder / "config.json").chmod(0o644)
        # The site trusts the provider's private CA the documented way.
        (site.path / "hub" / "oidc-ca" / "ca.pem").write_bytes((folder / "ca.pem").read_bytes())
        run(["docker", "rm", "-f", PROVIDER_CONTAINER], check=False)
        run(["docker", "run", "-d", "--name", PROVIDER_CONTAINER, "--network", NETWORK, "--network-alias", PROVIDER_HOST,
             "-p", f"127.0.0.1:{PROVIDER_PORT}:{PROVIDER_PORT}", "-v", f"{folder}:/etc/oidc:ro", OIDC_PROVIDER_IMAGE])
        session = new_session(str(folder / "ca.pem"), ISSUER)

        def answers():
            try:
                return session.get(f"{ISSUER}/.well-known/openid-configuration", timeout=5).ok
            except OSError:
                return False

        wait_until(answers, 60, "the OpenID Provider's discovery document")

    return before_up


@pytest.fixture(scope="module")
def oidc_site(tmp_path_factory, phase_times, provider_tls):
    folder, _ = provider_tls
    try:
        yield from site_lifecycle(tmp_path_factory, phase_times, "oidc", {
            "project_name": "jh-e2e-oidc", "hostname": HOSTNAME, "authenticator": "oidc",
            "oidc_issuer": ISSUER, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
            "admin_users": "", "allowed_users": "alice", "notebook_image_flavor": "base-notebook",
            "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT),
            "docker_network": NETWORK, "data_volume": VOLUME,
        }, env={
            # The test provider releases `groups` for its own scope (as Okta does).
            "OIDC_SCOPES": "openid profile groups", "OIDC_LOGIN_SERVICE": "E2E Identity",
            "OIDC_ALLOWED_GROUPS": "researchers", "OIDC_ADMIN_GROUPS": "hub-admins",
            "USER_CONTAINER_PREFIX": "oidc", "USER_VOLUME_PREFIX": "oidc-user",
        }, images=[OIDC_PROVIDER_IMAGE], before_up=start_provider(folder))
    finally:
        print(run(["docker", "logs", "--tail", "80", PROVIDER_CONTAINER], check=False).stdout)
        run(["docker", "rm", "-f", PROVIDER_CONTAINER], check=False)


@pytest.fixture
def browser(oidc_site, provider_tls, tmp_path):
    # Exactly the hub's and the provider's certificates (both from test CAs), nothing else.
    driver = start_chromium(tmp_path / "profile", "*.oidc.e2e.test",
                            [oidc_site.path / "nginx/certs/fullchain.pem", provider_tls[0] / "cert.pem"])
    yield driver
    driver.quit()


def sign_in(driver, site, name):
    """The browser's path: hub login page -> provider login form -> consent form -> hub callback."""
    open_page(driver, f"{site.url}/hub/login")
    button = wait_for_page(driver, EC.element_to_be_clickable((By.CSS_SELECTOR, 'a[href*="oauth_login"]')), 60)
    assert "E2E Identity" in button.text
    button.click()
    wait_for_page(driver, EC.presence_of_element_located((By.ID, "login")), 60)
    assert driver.current_url.startswith(f"{ISSUER}/interaction/"), driver.current_url
    driver.find_element(By.ID, "login").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(ACCOUNTS[name]["password"])
    driver.find_element(By.ID, "sign-in").click()
    allow = wait_for_page(driver, EC.element_to_be_clickable((By.ID, "allow")), 60)
    assert set(driver.find_element(By.ID, "scopes").text.split()) == {"openid", "profile", "groups"}
    allow.click()
    wait_for_page(driver, lambda _: driver.current_url.startswith(site.url), 60)


def hub_user(driver, site):
    """/hub/api/user as the browser sees it (None when the page is not JSON, e.g. after a network change)."""
    def load():
        open_page(driver, f"{site.url}/hub/api/user")
        try:
            return json.loads(driver.find_element(By.TAG_NAME, "body").text)
        except ValueError:
            return None

    return wait_until(load, 60, "the hub's user model", interval=2)


def test_group_member_gets_a_server(oidc_site, browser, phase_times):
    started = time.monotonic()
    try:
        sign_in(browser, oidc_site, "carol")
        wait_for_page(browser, launcher_or_reload, 180)
        phase_times["oidc_login_to_lab"] = round(time.monotonic() - started, 1)
        assert browser.current_url.startswith(f"{oidc_site.url}/user/carol/")
        me = hub_user(browser, oidc_site)
        assert me["name"] == "carol" and me["admin"] is False
        assert me["groups"] == ["researchers"]  # the provider's groups claim, synced at login
        assert me["servers"][""]["ready"] is True
    except Exception:
        save_artifacts(browser, "oidc-carol-failure")
        raise


def test_admin_group_member_is_admin(oidc_site, browser):
    try:
        sign_in(browser, oidc_site, "dave")
        me = hub_user(browser, oidc_site)
        assert me["name"] == "dave" and me["admin"] is True
        assert sorted(me["groups"]) == ["hub-admins", "researchers"]
    except Exception:
        save_artifacts(browser, "oidc-dave-failure")
        raise


def test_userlist_user_without_groups_logs_in(oidc_site, browser):
    sign_in(browser, oidc_site, "alice")
    me = hub_user(browser, oidc_site)
    assert me["name"] == "alice" and me["admin"] is False and me["groups"] == []


def test_user_in_no_allowed_group_gets_403(oidc_site, browser):
    try:
        sign_in(browser, oidc_site, "mallory")
        assert "/hub/oauth_callback" in browser.current_url
        assert "403" in browser.find_element(By.TAG_NAME, "body").text
        open_page(browser, f"{oidc_site.url}/hub/home")
        assert browser.current_url.startswith(f"{oidc_site.url}/hub/login"), "mallory has no hub session"
    except Exception:
        save_artifacts(browser, "oidc-mallory-failure")
        raise
