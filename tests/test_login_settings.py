"""LDAP and local-account logins: the hub config loaded by the pinned authenticators, and `make check`'s lines."""

import subprocess
import sys

import pytest

from template_helpers import PROJECT_TEMPLATE, bake_ok, load_module, variant_context
from test_hub_config import assert_no_config_warnings, load_config

ldap_login = load_module(PROJECT_TEMPLATE / "hub" / "ldap_login.py", "ldap_login")


@pytest.mark.parametrize(("url", "expected"), [
    ("ldaps://ad.example.org", ("ad.example.org", 636, "on_connect")),
    ("ldap://ldap.example.org", ("ldap.example.org", 389, "before_bind")),
    ("ldap://ldap.example.org:3389/", ("ldap.example.org", 3389, "before_bind")),
])
def test_ldap_url_gives_server_port_and_tls(url, expected):
    server = ldap_login.parse_url(url)
    assert (server.host, server.port, server.tls_strategy) == expected


@pytest.mark.parametrize("url", ["", "ldap.example.org", "http://ldap.example.org", "ldapi:///", "ldaps://", "ldap://h:99999",
                                 "ldap://h/dc=example"])
def test_bad_ldap_url_is_one_clear_line(url):
    with pytest.raises(ldap_login.LdapSettingError, match="LDAP_URL="):
        ldap_login.parse_url(url)


def test_ldap_variant_loads_with_the_pinned_authenticator(cookies):
    project = bake_ok(cookies, variant_context("ldap"))
    config = load_config(project, LDAP_URL="ldap://ldap.example.org", LDAP_CA_CERT="./hub/ldap-ca.pem",
                         LDAP_BIND_DN_TEMPLATE="uid={username},ou=people,dc=example,dc=org;uid={username},ou=staff,dc=example,dc=org",
                         LDAP_ALLOWED_GROUPS="cn=jupyter,ou=groups,dc=example,dc=org",
                         LDAP_ADMIN_GROUPS="cn=admins,ou=groups,dc=example,dc=org")
    assert_no_config_warnings(config)
    assert config["authenticator_class"] == "ldapauthenticator.ldapauthenticator.LDAPAuthenticator"
    assert (config["server_address"], config["server_port"]) == ("ldap.example.org", 389)
    assert config["tls_strategy"].endswith("before_bind")
    assert config["tls_kwargs"] == {"validate": 2, "ca_certs_file": "/srv/jupyterhub/ldap-ca.pem"}
    assert config["bind_dn_template"] == ["uid={username},ou=people,dc=example,dc=org", "uid={username},ou=staff,dc=example,dc=org"]
    assert config["allowed_groups"] == ["cn=jupyter,ou=groups,dc=example,dc=org", "cn=admins,ou=groups,dc=example,dc=org"]
    assert config["allowed_users"] == ["it-admin"]


def test_ldap_search_with_a_service_account(cookies):
    project = bake_ok(cookies, variant_context("ldap"))
    config = load_config(project, LDAP_URL="ldaps://ad.example.org", LDAP_SEARCH_BASE="OU=Staff,DC=example,DC=org",
                         LDAP_USERNAME_ATTRIBUTE="sAMAccountName", LDAP_SEARCH_USER_DN="CN=svc-jupyter,OU=Service,DC=example,DC=org",
                         LDAP_SEARCH_PASSWORD="service-secret")
    assert_no_config_warnings(config)
    assert config["lookup_dn"] is True and config["user_attribute"] == "sAMAccountName"
    assert config["tls_strategy"].endswith("on_connect") and config["server_port"] == 636
    assert config["tls_kwargs"] == {"validate": 2}  # no LDAP_CA_CERT: the image's CAs, still verified


def test_native_variant_loads_with_the_pinned_authenticator(cookies):
    project = bake_ok(cookies, variant_context("native"))
    config = load_config(project, NATIVE_MINIMUM_PASSWORD_LENGTH="14")
    assert_no_config_warnings(config)
    assert config["authenticator_class"] == "nativeauthenticator.nativeauthenticator.NativeAuthenticator"
    assert config["minimum_password_length"] == 14 and config["check_common_password"] is True
    assert config["open_signup"] is False and config["allowed_failed_logins"] == 5
    assert config["allow_all"] is True  # approval is the gate
    assert config["allowed_users"] == ["organizer"]  # approved when they sign up


def run_check(project):
    return subprocess.run([sys.executable, "scripts/check.py", "nginx-container"], cwd=project, capture_output=True, text=True)


def set_env(project, **values):
    env_path = project / ".env"
    lines = [line for line in env_path.read_text().splitlines() if line.split("=", 1)[0] not in values]
    env_path.write_text("\n".join(lines + [f"{key}={value}" for key, value in values.items()]) + "\n")


def make_certs(project):
    subprocess.run(["scripts/make-certs.sh", "hub.example.org", "nginx/certs", "nginx/test-ca"],
                   cwd=project, check=True, capture_output=True)


@pytest.mark.parametrize(("values", "expected"), [
    ({"LDAP_BIND_DN_TEMPLATE": "uid={username},dc=example"}, "error: LDAP_URL is empty in .env"),
    ({"LDAP_URL": "ldap://ldap.example.org", "LDAP_BIND_DN_TEMPLATE": ""}, "error: set LDAP_BIND_DN_TEMPLATE"),
    ({"LDAP_URL": "ldap://ldap.example.org", "LDAP_BIND_DN_TEMPLATE": "uid=x,dc=example"}, "error: LDAP_BIND_DN_TEMPLATE entry"),
    ({"LDAP_URL": "ldap://ldap.example.org", "LDAP_SEARCH_BASE": "dc=example", "LDAP_SEARCH_USER_DN": "cn=svc"},
     "error: LDAP_SEARCH_USER_DN and LDAP_SEARCH_PASSWORD"),
    ({"LDAP_URL": "ldap://ldap.example.org", "LDAP_BIND_DN_TEMPLATE": "uid={username},dc=example", "LDAP_CA_CERT": "./hub/nope.pem"},
     "error: LDAP_CA_CERT=./hub/nope.pem in .env: no such file"),
])
def test_make_check_names_the_bad_ldap_setting(cookies, values, expected):
    project = bake_ok(cookies, variant_context("ldap"))
    make_certs(project)
    set_env(project, **values)
    result = run_check(project)
    errors = result.stderr.splitlines()
    assert result.returncode == 1 and len(errors) == 1 and errors[0].startswith(expected), result.stderr


def test_make_check_names_a_bad_native_setting(cookies):
    project = bake_ok(cookies, variant_context("native"))
    make_certs(project)
    assert run_check(project).returncode == 0
    set_env(project, NATIVE_MINIMUM_PASSWORD_LENGTH="ten", NATIVE_OPEN_SIGNUP="maybe")
    errors = run_check(project).stderr.splitlines()
    assert errors == ["error: NATIVE_MINIMUM_PASSWORD_LENGTH=ten in .env: use a whole number of at least 1",
                      "error: NATIVE_OPEN_SIGNUP=maybe in .env: use true or false"]
