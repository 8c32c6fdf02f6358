"""Local accounts (NativeAuthenticator) through nginx, with the real forms in headless Chromium.

A site generated with authenticator=native and `admin` as the userlist's admin:
a user signs up, cannot log in before approval, the admin approves her on
/hub/authorize, then she logs in and gets a server.  Password rules are .env
settings (NATIVE_MINIMUM_PASSWORD_LENGTH, NATIVE_CHECK_COMMON_PASSWORD).
"""

import time

import pytest
from selenium.webdriver.common.by import By

from e2e_helpers import launcher_or_reload, open_page, save_artifacts, site_lifecycle, start_chromium, wait_for_page

NETWORK, VOLUME, PROJECT = "jh-e2e-native-network", "jh-e2e-native-data", "jh-e2e-native-deploy"
HOSTNAME = "hub.native.e2e.test"
HTTP_PORT, HTTPS_PORT = 46180, 46543
URL = f"https://{HOSTNAME}:{HTTPS_PORT}"
MINIMUM_LENGTH = 12
ADMIN_PASSWORD, ERIN_PASSWORD = "organizer-Native-1", "erin-signs-up-Native-2"


@pytest.fixture(scope="module")
def native_site(tmp_path_factory, phase_times):
    yield from site_lifecycle(tmp_path_factory, phase_times, "native", {
        "project_name": "Native E2E", "project_slug": PROJECT, "hostname": HOSTNAME, "authenticator": "native",
        "admin_users": "admin", "allowed_users": "",
        "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1",
        "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT), "docker_network": NETWORK, "data_volume": VOLUME,
    }, env={
        "NATIVE_MINIMUM_PASSWORD_LENGTH": str(MINIMUM_LENGTH),
        # A second deployment on this host: its own container and volume names.
        "USER_CONTAINER_PREFIX": "native", "USER_VOLUME_PREFIX": "native-user",
    })


@pytest.fixture(scope="module")
def browser(native_site, tmp_path_factory):
    driver = start_chromium(tmp_path_factory.mktemp("native-profile"), HOSTNAME, [native_site.path / "nginx/certs/fullchain.pem"])
    yield driver
    driver.quit()


def sign_up(driver, username, password):
    """Fill in /hub/signup; returns the message the page shows."""
    open_page(driver, f"{URL}/hub/signup")
    driver.find_element(By.ID, "username_input").send_keys(username)
    driver.find_element(By.ID, "password_input").send_keys(password)
    driver.find_element(By.ID, "password_confirmation_input").send_keys(password)
    driver.find_element(By.ID, "signup_submit").click()
    return page_message(driver, ".alert")


def log_in(driver, username, password):
    driver.delete_all_cookies()
    open_page(driver, f"{URL}/hub/login")
    driver.find_element(By.ID, "username_input").send_keys(username)
    driver.find_element(By.ID, "password_input").send_keys(password)
    driver.find_element(By.ID, "login_submit").click()


def page_message(driver, selector):
    """The text of `selector` once the page after a form post shows it; an element of the page
    being left goes stale mid-read, so keep looking (a user just sees the next page)."""
    return wait_for_page(driver, lambda _: driver.find_element(By.CSS_SELECTOR, selector).text, 60)


def login_error(driver):
    return page_message(driver, ".login_error, .alert-danger")


def test_too_short_and_common_passwords_are_refused_at_sign_up(native_site, browser):
    try:
        message = sign_up(browser, "frank", "Short-pw1")
        assert f"at least {MINIMUM_LENGTH} characters" in message, message
        # Long enough, but on NativeAuthenticator's list of common passwords.
        message = sign_up(browser, "frank", "1qaz2wsx3edc")
        assert "not too common" in message, message
        log_in(browser, "frank", "1qaz2wsx3edc")
        assert "Invalid username or password" in login_error(browser)
    except Exception:
        save_artifacts(browser, "native-password-rules")
        raise


def test_sign_up_approval_and_first_server(native_site, browser, phase_times):
    driver = browser
    started = time.monotonic()
    try:
        # The userlist's admin is approved on sign-up.
        assert "signup was successful" in sign_up(driver, "admin", ADMIN_PASSWORD)
        assert "sent to the admin" in sign_up(driver, "erin", ERIN_PASSWORD)
        log_in(driver, "erin", ERIN_PASSWORD)
        assert "has not been authorized by an administrator yet" in login_error(driver)

        log_in(driver, "admin", ADMIN_PASSWORD)
        wait_for_page(driver, lambda _: "/hub/" in driver.current_url and "login" not in driver.current_url, 180)
        open_page(driver, f"{URL}/hub/authorize")
        row = wait_for_page(driver, lambda _: next(
            (row for row in driver.find_elements(By.CSS_SELECTOR, "tr") if "erin" in row.text), None), 60)
        row.find_element(By.LINK_TEXT, "Authorize").click()
        wait_for_page(driver, lambda _: any(
            "erin" in row.text and "Unauthorize" in row.text for row in driver.find_elements(By.CSS_SELECTOR, "tr")), 60)

        log_in(driver, "erin", ERIN_PASSWORD)
        # The hub spawns erin's server, then redirects into JupyterLab.
        wait_for_page(driver, launcher_or_reload, 300)
        assert driver.current_url.startswith(f"{URL}/user/erin/")
        phase_times["native_signup_to_lab"] = round(time.monotonic() - started, 1)
    except Exception:
        save_artifacts(driver, "native-approval")
        raise
