"""TLS of the running nginx, checked by an independent scanner (sslyze) and plain clients."""

import json
import socket
import ssl
import subprocess
import sys

import pytest

from e2e_helpers import HOSTNAME, HTTP_PORT, HTTPS_PORT, PUBLIC_URL, TEMPLATE_DIR


@pytest.fixture(scope="module")
def sslyze_scan(deployment, tmp_path_factory):
    report = tmp_path_factory.mktemp("sslyze") / "scan.json"
    result = subprocess.run(
        [sys.executable, "-m", "sslyze", "--mozilla_config=intermediate", f"--certinfo_ca_file={deployment.cafile}",
         f"--json_out={report}", f"{HOSTNAME}:{HTTPS_PORT}{{127.0.0.1}}"],
        capture_output=True, text=True, timeout=600,
    )
    (TEMPLATE_DIR / "build").mkdir(exist_ok=True)
    (TEMPLATE_DIR / "build" / "sslyze.txt").write_text(result.stdout)
    return result, json.loads(report.read_text())


def accepted(scan, command):
    results = scan["server_scan_results"][0]["scan_result"][command]["result"]
    return [suite["cipher_suite"]["name"] for suite in results["accepted_cipher_suites"]]


def test_mozilla_intermediate_compliant(sslyze_scan):
    result, _ = sslyze_scan
    # Read the COMPLIANCE section, not the exit status: sslyze can exit 0 on a failed check.
    assert "COMPLIANCE AGAINST" in result.stdout, result.stdout[-3000:]
    compliance = result.stdout.split("COMPLIANCE AGAINST", 1)[1]
    assert f"{HOSTNAME}:{HTTPS_PORT}: OK - Compliant" in compliance, compliance
    assert "FAILED" not in compliance and "NOT COMPLIANT" not in compliance.upper()


def test_only_tls12_and_13_with_aead_suites(sslyze_scan):
    _, scan = sslyze_scan
    for legacy in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        assert accepted(scan, legacy) == [], legacy
    tls12 = accepted(scan, "tls_1_2_cipher_suites")
    assert tls12 and all(("GCM" in name or "CHACHA20" in name) and "ECDHE" in name for name in tls12), tls12
    assert accepted(scan, "tls_1_3_cipher_suites")


def test_certificate_path_validates_against_the_test_ca(sslyze_scan):
    result, _ = sslyze_scan
    supplied = [line for line in result.stdout.splitlines() if "Supplied CA file" in line]
    assert supplied and all("OK - Certificate is trusted" in line for line in supplied), result.stdout[:3000]


def test_certificate_trusted_through_the_test_ca(deployment):
    context = ssl.create_default_context(cafile=deployment.cafile)
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=HOSTNAME) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_port_80_redirects_with_308_everywhere(deployment):
    for path in ("/", "/hub/login", "/user/alice/lab?x=1"):
        response = deployment.session().get(f"http://{HOSTNAME}:{HTTP_PORT}{path}", allow_redirects=False, timeout=30)
        assert response.status_code == 308
        assert response.headers["Location"] == f"{PUBLIC_URL}{path}"
        assert response.headers["Server"] == "nginx"


@pytest.mark.parametrize("path", ["/hub/login", "/hub/api/health", "/no-such-page", "/user/nobody/"])
def test_hsts_on_every_https_response(deployment, path):
    response = deployment.session().get(f"{PUBLIC_URL}{path}", allow_redirects=False, timeout=30)
    assert response.headers.get("Strict-Transport-Security") == "max-age=63072000", (path, response.status_code)
    assert response.headers["Server"] == "nginx"
