"""A real headless Chromium logs in through nginx, opens JupyterLab and runs a cell.

A browser sends an Origin with the HTTPS port on every kernel WebSocket; only a
real browser catches a proxy that drops the port from Host (see nginx/jupyterhub.conf).
"""

import time

import pytest

from e2e_helpers import (
    HOSTNAME,
    PUBLIC_URL,
    launcher_or_reload,
    run_in_new_notebook,
    save_artifacts,
    start_chromium,
    submit_login_form,
    wait_for_page,
)


@pytest.fixture
def browser(deployment, tmp_path):
    driver = start_chromium(tmp_path / "profile", HOSTNAME, [deployment.path / "nginx/certs/fullchain.pem"])
    yield driver
    driver.quit()


def test_login_jupyterlab_and_run_a_cell(deployment, browser, phase_times):
    driver = browser
    started = time.monotonic()
    try:
        submit_login_form(driver, PUBLIC_URL, "bob", deployment.env["TRIAL_PASSWORD"])
        # The hub spawns bob's server, then redirects into JupyterLab.
        wait_for_page(driver, launcher_or_reload, 180)
        phase_times["browser_login_to_lab"] = round(time.monotonic() - started, 1)
        output = run_in_new_notebook(driver, "print(6*7)", "42")
        phase_times["browser_first_output"] = round(time.monotonic() - started, 1)
        assert output.strip() == "42"
        save_artifacts(driver, "jupyterlab-42")
    except Exception:
        save_artifacts(driver, "failure")
        raise
