#!/bin/sh
# Load /seed/data.ldif into the database /seed/slapd.conf describes, then serve
# LDAP (StartTLS) on 389 and LDAPS on 636 in the foreground, logging
# connections and binds (debug level 256: stats).
set -eu
mkdir -p /var/lib/ldap-standin
slapadd -f /seed/slapd.conf -l /seed/data.ldif
exec slapd -d "${SLAPD_DEBUG_LEVEL:-256}" -f /seed/slapd.conf -h "ldap:/// ldaps:///"
