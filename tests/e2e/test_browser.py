"""A real headless Chromium logs in through nginx, opens JupyterLab and runs a cell.

A browser sends an Origin with the HTTPS port on every kernel WebSocket; only a
real browser catches a proxy that drops the port from Host (see nginx/jupyterhub.conf).
"""

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from e2e_helpers import HOSTNAME, PUBLIC_URL, launcher_or_reload, open_page, save_artifacts, start_chromium, wait_for_page


@pytest.fixture
def browser(deployment, tmp_path):
    driver = start_chromium(tmp_path / "profile", HOSTNAME, [deployment.path / "nginx/certs/fullchain.pem"], console_log=True)
    yield driver
    driver.quit()


def test_login_jupyterlab_and_run_a_cell(deployment, browser, phase_times):
    driver, wait = browser, WebDriverWait(browser, 180)
    started = time.monotonic()
    try:
        open_page(driver, f"{PUBLIC_URL}/hub/login")
        driver.find_element(By.ID, "username_input").send_keys("bob")
        driver.find_element(By.ID, "password_input").send_keys(deployment.env["TRIAL_PASSWORD"])
        driver.find_element(By.ID, "login_submit").click()
        # The hub spawns bob's server, then redirects into JupyterLab.
        wait_for_page(driver, launcher_or_reload, 180)
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
