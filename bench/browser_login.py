"""A real browser (the suite's headless Chromium): the login form to a notebook cell's first output."""

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from e2e_helpers import launcher_or_reload, open_page, save_artifacts, start_chromium, wait_for_page


def login_to_first_output(site, hub, name, profile):
    """Seconds from opening the login page to JupyterLab's launcher and to `print(6*7)`'s output."""
    hub.create_users([name])
    driver = start_chromium(profile, site.env["PUBLIC_HOSTNAME"], [site.path / "nginx/certs/fullchain.pem"])
    try:
        wait = WebDriverWait(driver, 300)
        started = time.monotonic()
        open_page(driver, f"{site.url}/hub/login")
        driver.find_element(By.ID, "username_input").send_keys(name)
        driver.find_element(By.ID, "password_input").send_keys(site.env["TRIAL_PASSWORD"])
        driver.find_element(By.ID, "login_submit").click()
        wait_for_page(driver, launcher_or_reload, 300)
        lab = time.monotonic() - started
        driver.find_element(By.CSS_SELECTOR, '.jp-LauncherCard[data-category="Notebook"]').click()
        editor = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content")))
        wait.until(lambda _: "Idle" in driver.find_element(By.CSS_SELECTOR, ".jp-StatusBar-Widget, #jp-main-statusbar").text)
        editor.click()
        editor.send_keys("print(6*7)")
        editor.send_keys(Keys.SHIFT, Keys.ENTER)
        output = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".jp-OutputArea-output")))
        wait.until(lambda _: "42" in output.text)
        return {"login_to_lab_s": round(lab, 2), "login_to_output_s": round(time.monotonic() - started, 2)}
    except Exception:
        save_artifacts(driver, f"bench-{name}-failure")
        raise
    finally:
        driver.quit()
        hub.remove_users([name])
