#!/bin/sh
# Let's Encrypt for this site: the certbot service's entrypoint (docker-compose.yml).
#   certbot.sh run          placeholder, first certificate, then renewal twice a day
#   certbot.sh placeholder  make sure nginx has a certificate to start with, and stop
#   certbot.sh renew [ARG]  one renewal attempt now (e.g. renew --force-renewal)
#   certbot.sh status       wait for the first attempt of `run`, print its outcome
# HTTP-01 through the webroot /var/www/acme, which nginx serves on port 80 under
# /.well-known/acme-challenge/.  Settings come from .env: PUBLIC_HOSTNAME,
# LETSENCRYPT_EMAIL, ACME_DIRECTORY_URL.  A private ACME server's CA certificate
# may be put in certbot/acme-ca.pem.
set -eu
host=${PUBLIC_HOSTNAME:?set PUBLIC_HOSTNAME in .env}
server=${ACME_DIRECTORY_URL:?set ACME_DIRECTORY_URL in .env}
config=/etc/letsencrypt
live=$config/live/$host
renewal=$config/renewal/$host.conf
status_file=$config/status-$host.txt
webroot=/var/www/acme
here=$(dirname "$0")
renew_every=43200            # seconds: twice a day, as Let's Encrypt recommends
first_retry=300              # seconds; doubled after each failed first attempt
[ -f "$here/acme-ca.pem" ] && export REQUESTS_CA_BUNDLE="$here/acme-ca.pem"

say() { echo "certbot.sh: $*"; }

# A self-signed certificate, so that nginx starts before the real one exists.
# Python's cryptography comes with certbot; no openssl command is needed.
write_placeholder() {
    [ -s "$live/fullchain.pem" ] && [ -s "$live/privkey.pem" ] && return 0
    mkdir -p "$live"
    python3 - "$live" "$host" <<'PY'
import datetime, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
folder, host = sys.argv[1], sys.argv[2]
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, "temporary placeholder, not from Let's Encrypt")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256()))
umask = os.umask(0o077)
with open(os.path.join(folder, "privkey.pem"), "wb") as out:
    out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
os.umask(umask)
with open(os.path.join(folder, "fullchain.pem"), "wb") as out:
    out.write(cert.public_bytes(serialization.Encoding.PEM))
PY
    touch "$live/placeholder"
    say "temporary self-signed certificate for $host in place until the real one arrives"
}

# nginx starts once this container is healthy; the CA's check must find it
# answering.  A token of our own, fetched from nginx as the CA would, shows it does.
wait_for_nginx() {
    token=probe-$$
    mkdir -p "$webroot/.well-known/acme-challenge"
    echo "$token" >"$webroot/.well-known/acme-challenge/$token"
    python3 - "$host" "$token" <<'PY' || say "warning: nginx does not serve /.well-known/acme-challenge/ from the webroot; trying anyway"
import sys, time, urllib.request
host, token = sys.argv[1:]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
request = urllib.request.Request(f"http://nginx/.well-known/acme-challenge/{token}", headers={"Host": host})
for _ in range(90):
    try:
        if opener.open(request, timeout=5).read().decode().strip() == token:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(2)
sys.exit(1)
PY
    rm -f "$webroot/.well-known/acme-challenge/$token"
}

# What the CA said, from certbot's output: its "Detail:" lines, else the last error line.
failure_reason() {
    reason=$(sed -n 's/^ *Detail: *//p' "$1" | head -n 3 | tr '\n' ' ' | sed 's/ *$//')
    [ -n "$reason" ] || reason=$(grep -iE 'error|failed|problem' "$1" | tail -n 1)
    echo "${reason:-certbot exited without a reason; see the lines above}"
}

# The first certificate (or a new one after ACME_DIRECTORY_URL changed).
obtain() {
    log=/tmp/certbot-obtain.log
    # certbot refuses a live/<host> folder it did not make: set the placeholder aside.
    if [ -f "$live/placeholder" ]; then
        rm -rf "$config/placeholder-$host"
        mv "$live" "$config/placeholder-$host"
    fi
    if certbot certonly --non-interactive --agree-tos --no-eff-email \
        --email "${LETSENCRYPT_EMAIL:?set LETSENCRYPT_EMAIL in .env}" --server "$server" \
        --webroot --webroot-path "$webroot" --cert-name "$host" --domain "$host" \
        --keep-until-expiring "$@" >"$log" 2>&1; then
        cat "$log"
        rm -rf "$config/placeholder-$host"
        report "ok: issued for $host by $server; nginx serves it within CERT_CHECK_SECONDS"
        return 0
    fi
    cat "$log"
    if [ -d "$config/placeholder-$host" ] && [ ! -e "$live" ]; then
        mv "$config/placeholder-$host" "$live"
    fi
    report "error: no certificate for $host from $server yet: $(failure_reason "$log")." \
        "Check that DNS for $host points at this host and that port 80 reaches it from the internet;" \
        "nginx serves a temporary self-signed certificate meanwhile."
    return 1
}

renew() {
    log=/tmp/certbot-renew.log
    if certbot renew --non-interactive --no-random-sleep-on-renew --cert-name "$host" "$@" >"$log" 2>&1; then
        cat "$log"
        report "ok: issued for $host by $server; renewal checked $(date -u '+%Y-%m-%d %H:%M UTC')"
        return 0
    fi
    cat "$log"
    report "error: renewing the certificate for $host failed: $(failure_reason "$log"). Next attempt in 12 hours."
    return 1
}

report() {
    echo "certbot.sh: $*"
    echo "$*" >"$status_file"
}

run() {
    rm -f "$status_file"
    write_placeholder
    wait=$first_retry
    [ -f "$renewal" ] || wait_for_nginx
    while [ ! -f "$renewal" ] || ! grep -q "^server = $server\$" "$renewal"; do
        force=""
        [ -f "$renewal" ] && force="--force-renewal" && say "ACME_DIRECTORY_URL changed to $server: new certificate"
        obtain $force && break
        say "next attempt in $((wait / 60)) minutes (or now: docker compose restart certbot)"
        sleep "$wait"
        wait=$((wait * 2 > renew_every ? renew_every : wait * 2))
    done
    [ -f "$status_file" ] || report "ok: issued for $host by $server (renewal due in at most 12 hours is checked then)"
    while sleep "$renew_every"; do
        renew || true
    done
}

status() {
    waited=0
    while [ ! -f "$status_file" ] && [ "$waited" -lt 180 ]; do
        sleep 2
        waited=$((waited + 2))
    done
    if [ ! -f "$status_file" ]; then
        echo "certificate: the first attempt is still running; see make logs" >&2
    elif grep -q '^ok:' "$status_file"; then
        sed 's/^ok: /certificate: /' "$status_file"
    else
        sed 's/^error: /certificate: /' "$status_file" >&2
    fi
}

command=${1:-run}
[ $# -gt 0 ] && shift
case $command in
    run) run ;;
    placeholder) write_placeholder ;;
    renew) renew "$@" ;;
    status) status ;;
    *) echo "usage: certbot.sh run|placeholder|renew [CERTBOT ARGS]|status" >&2; exit 2 ;;
esac
