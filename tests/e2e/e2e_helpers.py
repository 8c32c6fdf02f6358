"""End-to-end helpers and fixtures: a generated deployment running on a real Docker engine."""

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import websocket
from cookiecutter.main import cookiecutter
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TESTS_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR / "images"))
sys.path.insert(0, str(TESTS_DIR))
from template_helpers import env_secrets, pins  # noqa: E402  (needs the path above)

ENV_SECRETS = env_secrets()

HOSTNAME = "hub.e2e.test"
HTTP_PORT, HTTPS_PORT = 18080, 18443
NETWORK, VOLUME = "jh-e2e-network", "jh-e2e-data"
PUBLIC_URL = f"https://{HOSTNAME}:{HTTPS_PORT}"

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    # Test hostnames map to loopback, as DNS would map them to the Docker host.
    if isinstance(host, str) and host.endswith(".e2e.test"):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo


def run(command, cwd=None, timeout=900, check=True, env=None):
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, **(env or {})))
    print(f"$ {' '.join(map(str, command))}  ({time.monotonic() - started:.1f} s, exit {result.returncode})")
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


class Deployment:
    def __init__(self, path):
        self.path = path
        self.env = ENV_SECRETS.parse_env((path / ".env").read_text())
        self.cafile = str(path / "nginx" / "test-ca" / "ca.crt")
        port = self.env["HTTPS_PORT"]
        # As a browser writes it: no :443, so Origin and Host agree on WebSockets.
        self.url = f"https://{self.env['PUBLIC_HOSTNAME']}" + ("" if port == "443" else f":{port}")

    def make(self, *targets, timeout=1200, check=True):
        return run(["make", "-C", str(self.path), *targets], timeout=timeout, check=check)

    def compose(self, *args, check=True, timeout=300):
        return run(["docker", "compose", "--project-directory", str(self.path), *args], timeout=timeout, check=check)

    def logs(self):
        return self.compose("logs", "--no-color", "--tail=150", check=False).stdout

    def session(self):
        return new_session(self.cafile, self.url)

    def login(self, username, password=None):
        """Log in through the real login form; returns a session holding the hub cookies."""
        session = self.session()
        page = session.get(f"{self.url}/hub/login", timeout=30)
        page.raise_for_status()
        response = session.post(
            f"{self.url}/hub/login?next=",
            data={"username": username, "password": password or self.env["TRIAL_PASSWORD"],
                  "_xsrf": session.cookies.get("_xsrf", path="/hub/")},
            allow_redirects=False, timeout=30,
        )
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return session


class HubSession(requests.Session):
    """A browser-like session with one site; `url` is the site's public URL."""

    def __init__(self, url):
        super().__init__()
        self.url = url


def new_session(cafile, url=PUBLIC_URL):
    """A session trusting only the test CA; trust_env=False because requests would
    otherwise replace `verify` with $REQUESTS_CA_BUNDLE and honour proxy variables."""
    session = HubSession(url)
    session.trust_env = False
    session.verify = cafile
    return session


def xsrf_headers(session):
    return {"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/"), "Referer": f"{session.url}/hub/home"}


def user_model(session, name):
    response = session.get(f"{session.url}/hub/api/users/{name}", timeout=30)
    response.raise_for_status()
    return response.json()


def start_server(session, name, timeout=300):
    response = session.post(f"{session.url}/hub/api/users/{name}/server", headers=xsrf_headers(session), timeout=60)
    assert response.status_code in (201, 202), (response.status_code, response.text)
    wait_until(lambda: (user_model(session, name)["servers"].get("") or {}).get("ready"), timeout, f"{name}'s server")
    open_server(session, name)


def open_server(session, name):
    """Open the server as a browser does: its OAuth handshake with the hub sets its cookies.

    Opening someone else's server shows JupyterHub's "Authorize access" page; submit it.
    """
    url = session.url
    page = session.get(f"{url}/user/{name}/lab", timeout=60)
    if page.url.startswith(f"{url}/hub/api/oauth2/authorize") and page.status_code == 200:
        fields = re.findall(r'<input type="hidden" name="(_xsrf|scopes)" value="([^"]*)"', page.text)
        page = session.post(page.url, data=[(key, html.unescape(value)) for key, value in fields],
                            headers={"Referer": page.url}, timeout=60)
    assert page.status_code == 200 and page.url.startswith(f"{url}/user/{name}/"), (page.status_code, page.url)


def server_headers(session, name):
    return {"X-XSRFToken": session.cookies.get("_xsrf", path=f"/user/{name}/") or "", "Referer": f"{session.url}/user/{name}/"}


def open_socket(session, path):
    cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)
    # A browser's Origin keeps the port; nginx must pass Host with it (see nginx/jupyterhub.conf).
    return websocket.create_connection(
        "wss://" + session.url.removeprefix("https://") + path, cookie=cookie, origin=session.url,
        sslopt={"ca_certs": session.verify}, timeout=60,
    )


def execute(session, name, code):
    """Run `code` in a new kernel of `name`'s server over the kernel WebSocket; returns its stdout."""
    url = session.url
    kernel = session.post(f"{url}/user/{name}/api/kernels", json={}, headers=server_headers(session, name), timeout=60)
    assert kernel.status_code == 201, (kernel.status_code, kernel.text)
    kernel_id = kernel.json()["id"]
    socket_ = open_socket(session, f"/user/{name}/api/kernels/{kernel_id}/channels")
    msg_id = uuid.uuid4().hex
    socket_.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name, "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
    }))
    output = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        message = json.loads(socket_.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            output += message["content"]["text"]
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    socket_.close()
    session.delete(f"{url}/user/{name}/api/kernels/{kernel_id}", headers=server_headers(session, name), timeout=60)
    return output


def terminal_output(session, name, command, expected):
    """Type `command` into a new terminal of `name`'s server; returns what it printed once `expected` shows."""
    terminal = session.post(f"{session.url}/user/{name}/api/terminals", headers=server_headers(session, name), timeout=60)
    assert terminal.status_code == 200, terminal.text
    socket_ = open_socket(session, f"/user/{name}/terminals/websocket/{terminal.json()['name']}")
    socket_.send(json.dumps(["stdin", command + "\r"]))
    seen = ""
    deadline = time.monotonic() + 60
    while expected not in seen and time.monotonic() < deadline:
        message = json.loads(socket_.recv())
        if message[0] == "stdout":
            seen += message[1]
    socket_.close()
    return seen


def wait_until(condition, timeout, what, interval=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def docker_names(kind):
    result = run(["docker", kind, "ls", "--format", "{{.Name}}"])
    return set(result.stdout.split())


def compose_project(context):
    """The Compose project name a context generates (cookiecutter.json's project_slug rule)."""
    from slugify import slugify

    return context.get("project_slug") or slugify(context["project_name"], max_length=48) + "-deploy"


def remove_leftovers(project, network, volume, user_volume_prefix):
    """Remove everything of one site that a run may leave: the Compose project's containers,
    volumes and networks (<project>_*), containers on the user network, the data volume and
    volumes named after it (<volume>-postgres), the user volumes (<prefix>-<user>), the network."""
    containers = set()
    for selector in (f"network={network}", f"label=com.docker.compose.project={project}"):
        containers |= set(run(["docker", "ps", "-aq", "--filter", selector], check=False).stdout.split())
    if containers:
        run(["docker", "rm", "-f", *sorted(containers)], check=False)
    for name in docker_names("volume"):
        if name == volume or name.startswith((f"{volume}-", f"{user_volume_prefix}-", f"{project}_")):
            run(["docker", "volume", "rm", "-f", name], check=False)
    for name in docker_names("network"):
        if name == network or name.startswith(f"{project}_"):
            run(["docker", "network", "rm", name], check=False)


@pytest.fixture(scope="session")
def phase_times():
    times = {}
    yield times
    report = TEMPLATE_DIR / "build" / "e2e-phases.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(times, indent=2))
    print("\nend-to-end phases (s):", json.dumps(times))


def generate(output, context):
    """Generate a deployment as a user does, with the post-gen hook on the live engine."""
    os.environ.pop("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", None)
    try:
        project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(output), extra_context=context))
    finally:
        os.environ["JUPYTERHUB_TEMPLATE_SKIP_DOCKER"] = "1"
    assert context["docker_network"] in docker_names("network"), "the post-gen hook creates the network"
    assert context["data_volume"] in docker_names("volume"), "the post-gen hook creates the volume"
    return Deployment(project)


def set_env(site, **values):
    """Change values in the deployment's .env, as an operator edits it."""
    path = site.path / ".env"
    text = path.read_text()
    unknown = set(values) - set(ENV_SECRETS.parse_env(text))
    assert not unknown, f"not in .env: {unknown}"
    ENV_SECRETS.write_private(path, ENV_SECRETS.set_values(text, values))
    site.env.update(values)


def ensure_stand_ins(*references):
    """The hub, base-notebook and nginx images every site uses, plus `references`."""
    from standins import ensure_images, notebook_ref

    versions = pins()
    ensure_images([versions["hub_image"], notebook_ref("base-notebook"), versions["nginx_image"], *references])


def site_lifecycle(tmp_path_factory, phase_times, name, context, env=None, images=(), before_up=None):
    """One deployment's whole life, for a fixture to `yield from`.

    Stand-in images, leftovers of an earlier run removed, generation (post-gen
    hook on the live engine), `env` written to .env, `before_up(site)`, then
    `make network volumes certs` and `make up`; after the tests: logs, `make
    down`, and every container, volume and network of the site removed (also
    when a step before the tests failed).
    Phase times go to build/e2e-phases.json under `name`.
    """
    started = time.monotonic()
    ensure_stand_ins(*images)
    phase_times[f"{name}_images"] = round(time.monotonic() - started, 1)
    leftovers = (compose_project(context), context["docker_network"], context["data_volume"],
                 (env or {}).get("USER_VOLUME_PREFIX", "jupyterhub-user"))
    remove_leftovers(*leftovers)
    site = None
    try:
        started = time.monotonic()
        site = generate(tmp_path_factory.mktemp(f"e2e-{name}"), context)
        if env:
            set_env(site, **env)
        if before_up:
            before_up(site)
        site.make("network", "volumes", "certs")
        phase_times[f"{name}_generate"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        site.make("up")
        phase_times[f"{name}_make_up"] = round(time.monotonic() - started, 1)
        yield site
    finally:
        # Also when generation or `make up` failed: the next scenario starts clean.
        if site is not None:
            print(site.logs())
            site.compose("down", check=False)
        remove_leftovers(*leftovers)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, phase_times):
    """The core site: local-trial login, nginx container on HTTPS port 18443, shared by most tests."""
    yield from site_lifecycle(tmp_path_factory, phase_times, "core", {
        "project_name": "E2E Hub", "hostname": HOSTNAME, "authenticator": "local-trial",
        "admin_users": "admin", "allowed_users": "alice bob",
        "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1",
        "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT),
        "docker_network": NETWORK, "data_volume": VOLUME,
    })


# --- A real browser (Debian's Chromium, driven by selenium) -------------------------

BROWSER_ARTIFACTS = TEMPLATE_DIR / "build" / "browser"


def spki_hash(certificate):
    """base64 SHA-256 of the certificate's public key, for --ignore-certificate-errors-spki-list."""
    key = subprocess.run(["openssl", "x509", "-in", certificate, "-pubkey", "-noout"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key, capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def start_chromium(profile, host_rule, certificates):
    """Headless Chromium that resolves `host_rule` (a name or *.domain) to loopback and trusts
    exactly `certificates` (test-CA leaves, by public key), nothing else."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    trusted = ",".join(spki_hash(str(path)) for path in certificates)
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}",
        f"--host-resolver-rules=MAP {host_rule} 127.0.0.1", f"--ignore-certificate-errors-spki-list={trusted}",
    ):
        options.add_argument(argument)
    # The console log shows failed loads (wait_for_page) and goes into the artifacts.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))


def save_artifacts(driver, name):
    BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(BROWSER_ARTIFACTS / f"{name}.png"))
    with contextlib.suppress(WebDriverException):
        (BROWSER_ARTIFACTS / f"{name}-console.json").write_text(json.dumps(driver.get_log("browser"), indent=2))


# Chromium watches the host's network interfaces and aborts page loads with ERR_NETWORK_CHANGED
# when one appears; starting any user container adds one.  A user would press Reload: so do
# the helpers below, for every page a browser test opens or waits for.

def network_changed(driver):
    return "ERR_NETWORK_CHANGED" in driver.page_source


def a_load_failed_on_network_change(driver):
    """A script or style of the page failed with ERR_NETWORK_CHANGED (the page itself loaded, so
    it stays blank: JupyterLab without its main script).  Reading the console log empties it."""
    with contextlib.suppress(WebDriverException):
        return any("ERR_NETWORK_CHANGED" in entry.get("message", "") for entry in driver.get_log("browser"))
    return False


def open_page(driver, url, attempts=10):
    """driver.get(url), again (as a user reloads) while Chromium shows ERR_NETWORK_CHANGED."""
    for _ in range(attempts):
        driver.get(url)
        if not network_changed(driver):
            return
        time.sleep(1)
    raise AssertionError(f"{url}: ERR_NETWORK_CHANGED {attempts} times in a row")


def wait_for_page(driver, condition, timeout):
    """WebDriverWait(driver, timeout).until(condition), reloading a page Chromium aborted with
    ERR_NETWORK_CHANGED, and looking again when an element goes stale because the page moved on."""
    def check(_):
        if network_changed(driver) or a_load_failed_on_network_change(driver):
            driver.refresh()
            return False
        return condition(driver)

    return WebDriverWait(driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(check)


def launcher_or_reload(driver):
    """JupyterLab's launcher is showing (use with wait_for_page)."""
    return bool(driver.find_elements(By.CSS_SELECTOR, ".jp-LauncherCard"))


def submit_login_form(driver, url, username, password):
    """The hub's own login form (local trial login), as a user fills it in."""
    open_page(driver, f"{url}/hub/login")
    driver.find_element(By.ID, "username_input").send_keys(username)
    driver.find_element(By.ID, "password_input").send_keys(password)
    driver.find_element(By.ID, "login_submit").click()


def run_in_new_notebook(driver, code, expected, timeout=180):
    """From JupyterLab's launcher: open a new notebook, run `code` in its first cell once the
    kernel is idle, and return the cell's output once it contains `expected`."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions

    wait = WebDriverWait(driver, timeout)
    driver.find_element(By.CSS_SELECTOR, '.jp-LauncherCard[data-category="Notebook"]').click()
    editor = wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content")))
    # The kernel starts over its WebSocket; run the cell once the status bar says Idle.
    wait.until(lambda _: "Idle" in driver.find_element(By.CSS_SELECTOR, ".jp-StatusBar-Widget, #jp-main-statusbar").text)
    editor.click()
    editor.send_keys(code)
    editor.send_keys(Keys.SHIFT, Keys.ENTER)
    output = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".jp-OutputArea-output")))
    wait.until(lambda _: expected in output.text)
    return output.text
