#!/usr/bin/env bash
# Install the Debian packages the tests use, only those missing (needs root).
#   nginx-light  real `nginx -t` of the generated server block; the host nginx of tests/e2e/test_host_nginx.py
#   openssl, git, make  certificates, generation from a git URL, the generated Makefile
#   debootstrap  stand-in image base for the end-to-end suite
#   chromium, chromium-driver  the browser test
set -euo pipefail
declare -A command_of=(
    [nginx-light]=nginx [openssl]=openssl [git]=git [make]=make [debootstrap]=debootstrap
    [chromium]=chromium [chromium-driver]=chromedriver
)
missing=()
for package in "${!command_of[@]}"; do
    command -v "${command_of[$package]}" >/dev/null 2>&1 || [ -x "/usr/sbin/${command_of[$package]}" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "setup-system: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
fi
echo "setup-system: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
