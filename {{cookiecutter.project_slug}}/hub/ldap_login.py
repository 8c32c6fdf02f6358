"""LDAP / Active Directory login settings (JUPYTERHUB_AUTHENTICATOR=ldap).

Parses the LDAP_* values of .env for hub/jupyterhub_config.py and for
`make check` (scripts/check.py), and gives admin rights to members of
LDAP_ADMIN_GROUPS at login.  Run as a script in the hub container,
`python3 ldap_login.py reach` tells whether the LDAP server answers on TCP
(`make check` does that, so the hub's own network and DNS are used).
Stdlib only (the check runs on the host too).
"""

import os
import socket
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

# How long `make check` waits for the LDAP server's TCP port.
REACH_TIMEOUT_SECONDS = 5


class LdapSettingError(ValueError):
    """A bad LDAP_* value in .env; the message names the setting and the rule."""


@dataclass(frozen=True)
class LdapServer:
    host: str
    port: int
    # ldapauthenticator's tls_strategy: "on_connect" (ldaps://) or "before_bind" (StartTLS).
    tls_strategy: str


def parse_url(url):
    """LDAP_URL: ldaps://host[:636] (TLS from the start) or ldap://host[:389] (StartTLS before
    every bind).  There is no plain-text mode: passwords never cross the network unencrypted."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
        raise LdapSettingError(f"LDAP_URL={url!r} in .env: use ldaps://host[:port] (LDAPS) or ldap://host[:port] (StartTLS)")
    try:
        port = parts.port
    except ValueError:
        raise LdapSettingError(f"LDAP_URL={url!r} in .env: the port is not a number from 1 to 65535") from None
    if parts.scheme == "ldaps":
        return LdapServer(parts.hostname, port or 636, "on_connect")
    return LdapServer(parts.hostname, port or 389, "before_bind")


def split_dns(text):
    """A list of DNs from .env, separated by `;` (DNs themselves contain commas)."""
    return [dn.strip() for dn in text.split(";") if dn.strip()]


def bind_templates(text):
    """LDAP_BIND_DN_TEMPLATE: DNs with {username}, e.g. uid={username},ou=people,dc=example,dc=org."""
    templates = split_dns(text)
    for template in templates:
        if "{username}" not in template:
            raise LdapSettingError(f"LDAP_BIND_DN_TEMPLATE entry {template!r} in .env has no " + "{username}")
    return templates


def settings_problems(values):
    """One line per missing or bad LDAP_* value (values: the parsed .env)."""
    problems = []
    if not values.get("LDAP_URL"):
        problems.append("LDAP_URL is empty in .env: set ldaps://<server>:636 (LDAPS) or ldap://<server>:389 (StartTLS)")
    else:
        try:
            parse_url(values["LDAP_URL"])
        except LdapSettingError as error:
            problems.append(str(error))
    try:
        templates = bind_templates(values.get("LDAP_BIND_DN_TEMPLATE", ""))
    except LdapSettingError as error:
        problems.append(str(error))
        templates = None
    if templates == [] and not values.get("LDAP_SEARCH_BASE"):
        problems.append("set LDAP_BIND_DN_TEMPLATE (users' DNs) or LDAP_SEARCH_BASE (search for them) in .env")
    if templates == [] and bool(values.get("LDAP_SEARCH_USER_DN")) != bool(values.get("LDAP_SEARCH_PASSWORD")):
        problems.append("LDAP_SEARCH_USER_DN and LDAP_SEARCH_PASSWORD in .env: set both (service account) or neither (anonymous search)")
    if not values.get("LDAP_USERNAME_ATTRIBUTE"):
        problems.append("LDAP_USERNAME_ATTRIBUTE is empty in .env: uid (OpenLDAP) or sAMAccountName (Active Directory)")
    return problems


def admin_login_hook(admin_groups, userlist_admins, full_admin, operator_role):
    """A post_auth_hook: LDAP_ADMIN_GROUPS members become admins at each login, and lose it
    when they leave the group.  With full_admin (ADMINS_CAN_ACCESS_SERVERS=true) that is
    JupyterHub's admin flag; otherwise the operator role of hub/jupyterhub_config.py."""
    admin_groups = set(admin_groups)

    def grant_admin(authenticator, handler, auth_model):
        groups = set((auth_model.get("auth_state") or {}).get("ldap_groups") or [])
        is_admin = bool(groups & admin_groups) or auth_model["name"] in userlist_admins
        if full_admin:
            auth_model["admin"] = is_admin
        else:
            from jupyterhub import roles

            user = handler.user_from_username(auth_model["name"])
            change = roles.grant_role if is_admin else roles.strip_role
            change(handler.db, user.orm_user, operator_role)
        return auth_model

    return grant_admin


def reach(url, timeout=REACH_TIMEOUT_SECONDS):
    """None when the server's TCP port answers, else one line saying why not."""
    server = parse_url(url)
    try:
        with socket.create_connection((server.host, server.port), timeout=timeout):
            return None
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        return f"LDAP server {server.host}:{server.port} (LDAP_URL in .env) is unreachable from the hub: {reason}"


def main(argv):
    if argv[1:] != ["reach"]:
        print("usage: python3 ldap_login.py reach   (reads LDAP_URL from the environment)", file=sys.stderr)
        return 2
    try:
        problem = reach(os.environ.get("LDAP_URL", ""))
    except LdapSettingError as error:
        problem = str(error)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print("check: the LDAP server answers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
