"""tls_mode=letsencrypt against pebble, the ACME test server, and certbot's folder layout as TLS_CERT_DIR.

One site on the real engine.  Pebble runs in a container on Docker's default
bridge with a TLS certificate from this test's own CA; certbot trusts that CA
through certbot/acme-ca.pem.  As Let's Encrypt would, pebble resolves the
site's hostname (through pebble-challtestsrv, its mock DNS server) to the
Docker host and validates HTTP-01 on the site's published HTTP port, where the
generated nginx serves certbot's webroot.  Validation is real: no
PEBBLE_VA_ALWAYS_VALID.
"""

import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time

import pytest
import requests
from cookiecutter.main import cookiecutter
from cryptography import x509

from e2e_helpers import ENV_SECRETS, TEMPLATE_DIR, new_session, run, set_env, site_lifecycle, wait_until
from standins import PEBBLE_IMAGE, ensure_images

HOSTNAME = "hub.le.e2e.test"
UNRESOLVED_HOSTNAME = "elsewhere.le.e2e.test"
HTTP_PORT, HTTPS_PORT = 41080, 41443
PEBBLE_PORT, PEBBLE_MANAGEMENT_PORT, DNS_MANAGEMENT_PORT = 41014, 41015, 41055
PEBBLE_CONTAINER = "jh-e2e-le-pebble"
NETWORK, VOLUME = "jh-e2e-le-network", "jh-e2e-le-data"
PROJECT = "jh-e2e-le-deploy"


def bridge_gateway():
    """The Docker host as containers on the default bridge see it (the 'public IP' here)."""
    config = json.loads(run(["docker", "network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}"]).stdout)[0]
    # Docker gives the bridge the subnet's first address when no gateway is configured.
    return config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pebble_tls(folder, gateway):
    """A CA of this test, and pebble's listener certificate for the gateway address."""
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=folder)
    openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=jh-e2e-le test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", "ca.pem", cwd=folder)
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem", cwd=folder)
    openssl("req", "-new", "-key", "key.pem", "-subj", "/CN=pebble", "-out", "pebble.csr", cwd=folder)
    (folder / "ext.cnf").write_text(f"subjectAltName=IP:{gateway},DNS:pebble\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "pebble.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-sha256", "-extfile", "ext.cnf", "-out", "cert.pem", cwd=folder)
    for name in ("key.pem", "cert.pem", "ca.pem"):
        (folder / name).chmod(0o644)
    folder.chmod(0o755)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory):
    """Pebble + its mock DNS on the default bridge, published on the gateway address only."""
    ensure_images([PEBBLE_IMAGE])
    gateway = bridge_gateway()
    folder = tmp_path_factory.mktemp("pebble")
    make_pebble_tls(folder, gateway)
    (folder / "config.json").write_text(json.dumps({"pebble": {
        "listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
        "certificate": "/etc/pebble/cert.pem", "privateKey": "/etc/pebble/key.pem",
        # Validation goes where Let's Encrypt's would: the host's published HTTP port.
        "httpPort": HTTP_PORT, "tlsPort": HTTPS_PORT, "externalAccountBindingRequired": False,
    }}))
    (folder / "config.json").chmod(0o644)
    run(["docker", "rm", "-f", PEBBLE_CONTAINER], check=False)
    # Names the mock DNS does not know get no address: an unknown name fails as NXDOMAIN-like.
    command = ("pebble-challtestsrv -defaultIPv4 '' -defaultIPv6 '' -dns01 127.0.0.1:8053 -http01 '' "
               "-https01 '' -tlsalpn01 '' -doh '' -management 0.0.0.0:8055 & "
               "exec pebble -config /etc/pebble/config.json -dnsserver 127.0.0.1:8053")
    run(["docker", "run", "-d", "--name", PEBBLE_CONTAINER, "-v", f"{folder}:/etc/pebble:ro",
         # Random nonce rejection would only test certbot's retry; no validation shortcut is set.
         "-e", "PEBBLE_WFE_NONCEREJECT=0", "-e", "PEBBLE_VA_NOSLEEP=1",
         "-p", f"{gateway}:{PEBBLE_PORT}:14000", "-p", f"{gateway}:{PEBBLE_MANAGEMENT_PORT}:15000",
         "-p", f"{gateway}:{DNS_MANAGEMENT_PORT}:8055", PEBBLE_IMAGE, "sh", "-c", command])
    directory = f"https://{gateway}:{PEBBLE_PORT}/dir"

    def answers():
        try:
            return requests.get(directory, verify=str(folder / "ca.pem"), timeout=5).ok
        except requests.RequestException:
            return False

    try:
        wait_until(answers, 60, "pebble's directory")
        # The site's name resolves to the Docker host, as public DNS would.
        response = requests.post(f"http://{gateway}:{DNS_MANAGEMENT_PORT}/add-a", timeout=10,
                                 json={"host": HOSTNAME, "addresses": [gateway]})
        response.raise_for_status()
        yield {"directory": directory, "ca": folder / "ca.pem", "gateway": gateway,
               "management": f"https://{gateway}:{PEBBLE_MANAGEMENT_PORT}"}
    finally:
        print(run(["docker", "logs", "--tail", "60", PEBBLE_CONTAINER], check=False).stdout)
        run(["docker", "rm", "-f", PEBBLE_CONTAINER], check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory, phase_times, pebble):
    def trust_pebble(site):
        shutil.copy(pebble["ca"], site.path / "certbot" / "acme-ca.pem")

    context = {
        "project_name": "jh-e2e-le", "hostname": HOSTNAME, "authenticator": "local-trial",
        "admin_users": "admin", "allowed_users": "alice", "notebook_image_flavor": "base-notebook",
        "tls_mode": "letsencrypt", "letsencrypt_email": "ops@example.org",
        "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT),
        "docker_network": NETWORK, "data_volume": VOLUME,
    }
    env = {"ACME_DIRECTORY_URL": pebble["directory"], "CERT_CHECK_SECONDS": "2",
           "USER_CONTAINER_PREFIX": "jh-e2e-le", "USER_VOLUME_PREFIX": "jh-e2e-le-user"}
    pins = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["_pins"]
    yield from site_lifecycle(tmp_path_factory, phase_times, "letsencrypt", context, env=env,
                              images=[pins["certbot_image"]], before_up=trust_pebble)


def pebble_root(pebble):
    """Pebble's root CA (made fresh at each pebble start), from its management API."""
    response = requests.get(f"{pebble['management']}/roots/0", verify=str(pebble["ca"]), timeout=10)
    response.raise_for_status()
    return response.text


def served_certificate(cafile_text):
    """The certificate nginx serves over a real TLS connection that trusts only `cafile_text`."""
    context = ssl.create_default_context(cadata=cafile_text)
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=HOSTNAME) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def reloads(site):
    return site.compose("logs", "--no-color", "nginx").stdout.count("fullchain.pem changed; nginx reloaded")


def certbot_logs(site):
    return site.compose("logs", "--no-color", "certbot", check=False).stdout


def test_first_certificate_is_issued_by_pebble_and_served(site, pebble):
    status = site.compose("exec", "-T", "certbot", "/bin/sh", "/opt/certbot/certbot.sh", "status")
    assert f"certificate: issued for {HOSTNAME} by {pebble['directory']}" in status.stdout, status.stdout
    root = pebble_root(pebble)
    # Validation against pebble's root alone: the chain nginx sends must lead there.
    leaf = wait_until(lambda: _try(served_certificate, root), 60, "nginx serving pebble's certificate")
    assert "Pebble Intermediate CA" in leaf.issuer.rfc4514_string()
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == [HOSTNAME]
    # nginx was up before the first certificate (certbot waits until nginx serves its webroot,
    # and nginx starts on the placeholder), then switched to the issued one by itself.
    nginx_logs = site.compose("logs", "--no-color", "nginx").stdout
    assert "fullchain.pem changed; nginx reloaded" in nginx_logs, nginx_logs[-2000:]


def _try(function, *args):
    try:
        return function(*args)
    except (ssl.SSLError, OSError):
        return None


def test_port_80_serves_acme_challenges_and_redirects_the_rest(site):
    session = new_session(None)
    challenge = session.get(f"http://{HOSTNAME}:{HTTP_PORT}/.well-known/acme-challenge/no-such-token",
                            allow_redirects=False, timeout=10)
    assert challenge.status_code == 404, "challenges are answered on plain HTTP, not redirected"
    other = session.get(f"http://{HOSTNAME}:{HTTP_PORT}/.well-known/other", allow_redirects=False, timeout=10)
    assert other.status_code == 308


def test_forced_renewal_is_served_without_restart_or_failed_requests(site, pebble, tmp_path):
    root = pebble_root(pebble)
    (tmp_path / "root.pem").write_text(root)
    session = new_session(str(tmp_path / "root.pem"))
    before = served_certificate(root)
    nginx_started = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", f"{PROJECT}-nginx-1"]).stdout
    reloads_before = reloads(site)
    failures, done = [], threading.Event()

    def keep_asking():
        # New TLS connections all the way through the reload: none may fail.
        while not done.is_set():
            try:
                response = session.get(f"https://{HOSTNAME}:{HTTPS_PORT}/hub/api/health", timeout=10,
                                       headers={"Connection": "close"})
                if response.status_code != 200:
                    failures.append(response.status_code)
            except requests.RequestException as error:
                failures.append(repr(error))
            time.sleep(0.05)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        renewal = site.compose("exec", "-T", "certbot", "/bin/sh", "/opt/certbot/certbot.sh", "renew",
                               "--force-renewal", timeout=300)
        assert "success" in renewal.stdout.lower(), renewal.stdout[-2000:]
        after = wait_until(lambda: (lambda cert: cert if cert.serial_number != before.serial_number else None)(
            served_certificate(root)), 60, "nginx serving the renewed certificate")
    finally:
        done.set()
        asker.join()
    assert "Pebble Intermediate CA" in after.issuer.rfc4514_string()
    assert after.not_valid_before_utc >= before.not_valid_before_utc
    assert failures == []
    assert run(["docker", "inspect", "-f", "{{.State.StartedAt}}", f"{PROJECT}-nginx-1"]).stdout == nginx_started
    wait_until(lambda: reloads(site) > reloads_before, 30, "nginx logging its reload")


def test_backup_keeps_certbot_state_and_restore_serves_the_same_certificate(site, pebble):
    """`make backup` takes certbot's volume along; `make restore FORCE=1` brings it back and
    nginx serves the very same certificate, with no new issuance (Let's Encrypt rate limits)."""
    root = pebble_root(pebble)
    before = served_certificate(root)
    backup = site.make("backup", timeout=600)
    archive = re.search(r"backup: wrote (\S+\.tar) ", backup.stdout).group(1)
    with tarfile.open(site.path / archive) as tar:
        assert "volumes/letsencrypt.tar" in tar.getnames()
    # Lose certbot's state: without the restore, certbot would fetch a new certificate.
    site.make("down")
    run(["docker", "volume", "rm", f"{PROJECT}_letsencrypt"])
    site.make("restore", f"FILE={archive}", "FORCE=1", timeout=900)
    after = wait_until(lambda: served_certificate(root), 120, "nginx serving after the restore")
    assert after.serial_number == before.serial_number, "the restored certificate, not a new one"


def test_certbot_live_folder_works_as_tls_cert_dir(site, tmp_path):
    """The README's TLS_CERT_DIR=/etc/letsencrypt/live/<host>, with certbot's real layout (relative links)."""
    letsencrypt = tmp_path / "letsencrypt"
    site.compose("cp", "certbot:/etc/letsencrypt", str(letsencrypt))
    live = letsencrypt / "live" / HOSTNAME
    assert (live / "fullchain.pem").is_symlink()
    assert str((live / "fullchain.pem").readlink()).startswith("../../archive/")
    project = tmp_path / "provided"
    project = cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(project), extra_context={
        "project_name": "jh-e2e-le-provided", "hostname": HOSTNAME, "authenticator": "local-trial",
        "admin_users": "admin", "tls_mode": "provided", "docker_network": NETWORK, "data_volume": VOLUME,
    })
    env_path = f"{project}/.env"
    with open(env_path) as handle:
        text = handle.read()
    ENV_SECRETS.write_private(env_path, ENV_SECRETS.set_values(text, {"TLS_CERT_DIR": str(live)}))
    try:
        result = run(["make", "-C", project, "check"], check=False, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "check: nginx configuration is valid" in result.stdout
    finally:
        run(["docker", "compose", "--project-directory", project, "down"], check=False)


def test_unresolvable_hostname_gives_a_clear_message_and_no_crash_loop(site):
    set_env(site, PUBLIC_HOSTNAME=UNRESOLVED_HOSTNAME)
    result = site.make("up", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f"certificate: no certificate for {UNRESOLVED_HOSTNAME} from" in output, output[-3000:]
    assert f"Check that DNS for {UNRESOLVED_HOSTNAME} points at this host" in output
    assert "could not resolve" in output, output[-3000:]  # what the CA saw, passed on
    # Waiting, not crashing: the container keeps running and is healthy on its placeholder.
    time.sleep(5)
    state = json.loads(run(["docker", "inspect", "-f", "{{json .State}}", f"{PROJECT}-certbot-1"]).stdout)
    restarts = run(["docker", "inspect", "-f", "{{.RestartCount}}", f"{PROJECT}-certbot-1"]).stdout.strip()
    assert state["Running"] and restarts == "0", (state, restarts)
    assert state["Health"]["Status"] == "healthy"
    assert "next attempt in 5 minutes" in certbot_logs(site)
