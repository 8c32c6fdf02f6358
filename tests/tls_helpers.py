"""A throwaway CA and a server certificate it signs, for test peers that speak HTTPS.

The certificates pass strict verification (Python 3.13's VERIFY_X509_STRICT,
Chromium): a critical CA basicConstraints and keyUsage on the CA; SAN, serverAuth
and key identifiers on the server certificate.
"""

import subprocess


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue_server_certificate(folder, hostnames, days=2):
    """Write ca.pem, cert.pem and key.pem (all world-readable, for containers) into `folder`."""
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=folder)
    openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", str(days), "-subj", "/CN=jh-e2e test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash", "-out", "ca.pem", cwd=folder)
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem", cwd=folder)
    openssl("req", "-new", "-key", "key.pem", "-subj", f"/CN={hostnames[0]}", "-out", "server.csr", cwd=folder)
    (folder / "server.ext").write_text(
        "subjectAltName=" + ",".join(f"DNS:{name}" for name in hostnames) + "\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", str(days), "-sha256", "-extfile", "server.ext", "-out", "cert.pem", cwd=folder)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (folder / name).chmod(0o644)
    folder.chmod(0o755)
    return folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
