"""A real headless Chromium logs in through nginx, opens JupyterLab and runs a cell.

A browser sends an Origin with the HTTPS port on every kernel WebSocket; only a
real browser catches a proxy that drops the port from Host (see nginx/jupyterhub.conf).
"""

import base64
import contextlib
import hashlib
import json
import subprocess
import time

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from e2e_helpers import HOSTNAME, PUBLIC_URL, TEMPLATE_DIR

ARTIFACTS = TEMPLATE_DIR / "build" / "browser"


def spki_hash(certificate):
    """base64 SHA-256 of the certificate's public key, for --ignore-certificate-errors-spki-list."""
    key = subprocess.run(["openssl", "x509", "-in", certificate, "-pubkey", "-noout"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key, capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture
def browser(deployment, tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}",
        f"--host-resolver-rules=MAP {HOSTNAME} 127.0.0.1",
        # Trust exactly this deployment's certificate (issued by the test CA), nothing else.
        f"--ignore-certificate-errors-spki-list={spki_hash(str(deployment.path / 'nginx/certs/fullchain.pem'))}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def save_artifacts(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    with contextlib.suppress(WebDriverException):
        (ARTIFACTS / f"{name}-console.json").write_text(json.dumps(driver.get_log("browser"), indent=2))


def launcher_or_reload(driver):
    """JupyterLab's launcher, reloading as a user would when Chromium aborts the page load with
    ERR_NETWORK_CHANGED: it watches the host's interfaces, and starting a user container adds one."""
    if driver.find_elements(By.CSS_SELECTOR, ".jp-LauncherCard"):
        return True
    if "ERR_NETWORK_CHANGED" in driver.page_source:
        driver.refresh()
    return False


def test_login_jupyterlab_and_run_a_cell(deployment, browser, phase_times):
    driver, wait = browser, WebDriverWait(browser, 180)
    started = time.monotonic()
    try:
        driver.get(f"{PUBLIC_URL}/hub/login")
        driver.find_element(By.ID, "username_input").send_keys("bob")
        driver.find_element(By.ID, "password_input").send_keys(deployment.env["TRIAL_PASSWORD"])
        driver.find_element(By.ID, "login_submit").click()
        # The hub spawns bob's server, then redirects into JupyterLab.
        wait.until(launcher_or_reload)
        phase_times["browser_login_to_lab"] = round(time.monotonic() - started, 1)
        driver.find_element(By.CSS_SELECTOR, '.jp-LauncherCard[data-category="Notebook"]').click()
        editor = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content")))
        # The kernel starts over its WebSocket; run the cell once the status bar says Idle.
        wait.until(lambda _: "Idle" in driver.find_element(By.CSS_SELECTOR, ".jp-StatusBar-Widget, #jp-main-statusbar").text)
        editor.click()
        editor.send_keys("print(6*7)")
        editor.send_keys(Keys.SHIFT, Keys.ENTER)
        output = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".jp-OutputArea-output")))
        wait.until(lambda _: "42" in output.text)
        phase_times["browser_first_output"] = round(time.monotonic() - started, 1)
        assert output.text.strip() == "42"
        save_artifacts(driver, "jupyterlab-42")
    except Exception:
        save_artifacts(driver, "failure")
        raise
