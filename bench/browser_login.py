"""A real browser (the suite's headless Chromium): the login form to a notebook cell's first output."""

import time

from e2e_helpers import launcher_or_reload, run_in_new_notebook, save_artifacts, start_chromium, submit_login_form, wait_for_page


def login_to_first_output(site, hub, name, profile):
    """Seconds from opening the login page to JupyterLab's launcher and to `print(6*7)`'s output."""
    hub.create_users([name])
    driver = start_chromium(profile, site.env["PUBLIC_HOSTNAME"], [site.path / "nginx/certs/fullchain.pem"])
    try:
        started = time.monotonic()
        submit_login_form(driver, site.url, name, site.env["TRIAL_PASSWORD"])
        wait_for_page(driver, launcher_or_reload, 300)
        lab = time.monotonic() - started
        run_in_new_notebook(driver, "print(6*7)", "42", timeout=300)
        return {"login_to_lab_s": round(lab, 2), "login_to_output_s": round(time.monotonic() - started, 2)}
    except Exception:
        save_artifacts(driver, f"bench-{name}-failure")
        raise
    finally:
        driver.quit()
        hub.remove_users([name])
