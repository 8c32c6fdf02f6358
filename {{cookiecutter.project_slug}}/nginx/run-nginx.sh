#!/bin/sh
# The nginx container's command: start nginx, and reload it whenever its
# certificate changes (a certbot renewal, `make certs`, new files in
# TLS_CERT_DIR).  A reload is graceful: new workers take the new certificate
# while the old ones finish their connections, so nobody is cut off.
# Watching from inside this container means no other container needs the
# Docker socket or nginx's process namespace to trigger the reload.
#   run-nginx.sh CERTIFICATE_FILE     (checked every CERT_CHECK_SECONDS, default 60)
set -eu
certificate=${1:?usage: run-nginx.sh CERTIFICATE_FILE}
interval=${CERT_CHECK_SECONDS:-60}

fingerprint() {
    cksum <"$certificate" 2>/dev/null || echo missing
}

watch_certificate() {
    served=$(fingerprint)
    while sleep "$interval"; do
        current=$(fingerprint)
        [ "$current" = "$served" ] && continue
        # A half-written or mismatched pair fails the test: keep serving the old one.
        if nginx -t -q 2>/dev/null && nginx -s reload; then
            served=$current
            echo "run-nginx: $certificate changed; nginx reloaded"
        else
            echo "run-nginx: $certificate changed but nginx -t fails; still serving the previous certificate" >&2
        fi
    done
}

watch_certificate &
exec nginx -g 'daemon off;'
