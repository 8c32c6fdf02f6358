#!/usr/bin/env bash
# Issue a short-lived TLS certificate for HOSTNAME from a local CA, for a first
# run or testing.  Browsers trust it once CA_DIR/ca.crt is imported.
#   scripts/make-certs.sh HOSTNAME DIR CA_DIR [DAYS]
# Writes DIR/fullchain.pem and DIR/privkey.pem (mode 600).  The CA lives in
# CA_DIR, outside the folder nginx mounts, so re-running renews the server
# certificate without a new CA and nginx never sees the CA key.
set -euo pipefail
hostname=${1:?usage: make-certs.sh HOSTNAME DIR CA_DIR [DAYS]}
dir=${2:?usage: make-certs.sh HOSTNAME DIR CA_DIR [DAYS]}
ca=${3:?usage: make-certs.sh HOSTNAME DIR CA_DIR [DAYS]}
days=${4:-90}
umask 077
mkdir -p "$dir" "$ca"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -s "$ca/ca.key" ] || [ ! -s "$ca/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$ca/ca.key"
    openssl req -x509 -new -key "$ca/ca.key" -sha256 -days 365 \
        -subj "/CN=JupyterHub local test CA ($hostname)" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$ca/ca.crt"
    chmod 644 "$ca/ca.crt"
    echo "certs: new local CA $ca/ca.crt (import it into a browser to trust the hub)"
fi

openssl ecparam -name prime256v1 -genkey -noout -out "$work/privkey.pem"
openssl req -new -key "$work/privkey.pem" -subj "/CN=$hostname" -out "$work/server.csr"
cat >"$work/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$hostname
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
EXT
openssl x509 -req -in "$work/server.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile "$work/ext.cnf" -out "$work/fullchain.pem" 2>/dev/null
install -m 600 "$work/privkey.pem" "$dir/privkey.pem"
install -m 644 "$work/fullchain.pem" "$dir/fullchain.pem"
rm -f "$ca/ca.srl"
echo "certs: $dir/fullchain.pem for $hostname, valid $days days"
