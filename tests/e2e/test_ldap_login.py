"""LDAP login through nginx against a real OpenLDAP server (Debian's slapd), over StartTLS.

The site is generated with authenticator=ldap; slapd runs in a stand-in
container on the site's user network under LDAP_HOST, with a certificate from
a CA made by the site's own scripts/make-certs.sh, whose ca.crt the operator
puts at hub/ldap-ca.pem (LDAP_CA_CERT).  slapd refuses simple binds without
TLS, so every successful login proves the hub spoke StartTLS and trusted that CA.
"""

import base64
import hashlib
import os
import shutil

import pytest

from e2e_helpers import execute, run, set_env, site_lifecycle, start_server, user_model, wait_until
from standins import SLAPD_IMAGE

NETWORK, VOLUME, PROJECT = "jh-e2e-ldap-network", "jh-e2e-ldap-data", "jh-e2e-ldap-deploy"
HTTP_PORT, HTTPS_PORT = 46080, 46443
LDAP_CONTAINER = "jh-e2e-ldap-slapd"
LDAP_HOST = "ldap.ldap.e2e.test"
SUFFIX = "dc=ldap,dc=e2e,dc=test"
USERS_GROUP, ADMINS_GROUP = f"cn=jupyter-users,ou=groups,{SUFFIX}", f"cn=hub-admins,ou=groups,{SUFFIX}"
# alice: allowed group; carol: admin group; dave: only in userlist; mallory: in LDAP, allowed by nothing.
PASSWORDS = {"alice": "alice-ldap-Secret-1", "carol": "carol-ldap-Secret-2", "dave": "dave-ldap-Secret-3",
             "mallory": "mallory-ldap-Secret-4"}

SLAPD_CONF = f"""
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile /seed/ca.crt
TLSCertificateFile /seed/fullchain.pem
TLSCertificateKeyFile /seed/privkey.pem
# Simple binds only inside TLS: a password sent in the clear is refused.
security simple_bind=128
database mdb
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
rootpw e2e-ldap-root-unused
directory /var/lib/ldap-standin
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
"""


def ssha(password):
    """An RFC 2307 {SSHA} hash, as directory administrators store passwords."""
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def seed_ldif():
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: LDAP E2E\ndc: ldap",
        f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups",
    ]
    entries += [f"dn: uid={name},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name}\nsn: {name}\n"
                f"userPassword: {ssha(password)}" for name, password in PASSWORDS.items()]
    entries += [f"dn: {group}\nobjectClass: groupOfNames\ncn: {group.split(',')[0][3:]}\nmember: uid={member},ou=people,{SUFFIX}"
                for group, member in ((USERS_GROUP, "alice"), (ADMINS_GROUP, "carol"))]
    return "\n\n".join(entries) + "\n"


def start_slapd(site):
    """The directory, with TLS from a CA the operator's hub/ldap-ca.pem holds, on the site's network."""
    seed = site.path.parent / "ldap-seed"
    run([str(site.path / "scripts" / "make-certs.sh"), LDAP_HOST, str(seed), str(site.path.parent / "ldap-ca"), "2"])
    shutil.copy(site.path.parent / "ldap-ca" / "ca.crt", seed / "ca.crt")
    shutil.copy(seed / "ca.crt", site.path / "hub" / "ldap-ca.pem")
    (seed / "slapd.conf").write_text(SLAPD_CONF)
    (seed / "data.ldif").write_text(seed_ldif())
    run(["docker", "rm", "-f", LDAP_CONTAINER], check=False)
    run(["docker", "run", "-d", "--name", LDAP_CONTAINER, "--network", NETWORK, "--network-alias", LDAP_HOST,
         "-v", f"{seed}:/seed:ro", SLAPD_IMAGE])
    try:
        wait_until(lambda: run(["docker", "exec", "-e", "LDAPTLS_CACERT=/seed/ca.crt", LDAP_CONTAINER, "ldapwhoami", "-x", "-ZZ",
                                "-H", f"ldap://{LDAP_HOST}", "-D", f"uid=alice,ou=people,{SUFFIX}", "-w", PASSWORDS["alice"]],
                               check=False).returncode == 0 or None, 60, "slapd", interval=2)
    except AssertionError:
        logs = run(["docker", "logs", "--tail", "40", LDAP_CONTAINER], check=False)
        print(logs.stdout + logs.stderr)
        raise


@pytest.fixture(scope="module")
def ldap_site(tmp_path_factory, phase_times):
    try:
        yield from site_lifecycle(tmp_path_factory, phase_times, "ldap", {
            "project_name": "LDAP E2E", "project_slug": PROJECT, "hostname": "hub.ldap.e2e.test", "authenticator": "ldap",
            "admin_users": "", "allowed_users": "dave",
            "notebook_image_flavor": "base-notebook", "mem_limit": "1G", "cpu_limit": "1",
            "http_port": str(HTTP_PORT), "https_port": str(HTTPS_PORT), "docker_network": NETWORK, "data_volume": VOLUME,
        }, env={
            "LDAP_URL": f"ldap://{LDAP_HOST}", "LDAP_CA_CERT": "./hub/ldap-ca.pem",
            "LDAP_BIND_DN_TEMPLATE": f"uid={{username}},ou=people,{SUFFIX}",
            "LDAP_ALLOWED_GROUPS": USERS_GROUP, "LDAP_ADMIN_GROUPS": ADMINS_GROUP,
            # A second deployment on this host: its own container and volume names.
            "USER_CONTAINER_PREFIX": "ldap", "USER_VOLUME_PREFIX": "ldap-user",
        }, images=[SLAPD_IMAGE], before_up=start_slapd)
    finally:
        logs = run(["docker", "logs", "--tail", "80", LDAP_CONTAINER], check=False)
        print(logs.stdout + logs.stderr)
        run(["docker", "rm", "-f", LDAP_CONTAINER], check=False)


def post_login(site, username, password):
    session = site.session()
    session.get(f"{site.url}/hub/login", timeout=30).raise_for_status()
    response = session.post(f"{site.url}/hub/login?next=", allow_redirects=False, timeout=60, data={
        "username": username, "password": password, "_xsrf": session.cookies.get("_xsrf", path="/hub/")})
    return session, response


def test_allowed_group_member_logs_in_and_gets_a_server(ldap_site):
    session, response = post_login(ldap_site, "alice", PASSWORDS["alice"])
    assert response.status_code == 302, (response.status_code, response.text[:300])
    assert user_model(session, "alice")["admin"] is False
    start_server(session, "alice")
    assert execute(session, "alice", "import getpass; print(getpass.getuser())").strip() == "jovyan"


def test_admin_group_member_is_admin(ldap_site):
    session, response = post_login(ldap_site, "carol", PASSWORDS["carol"])
    assert response.status_code == 302, (response.status_code, response.text[:300])
    assert user_model(session, "carol")["admin"] is True


def test_userlist_user_outside_the_groups_logs_in(ldap_site):
    session, response = post_login(ldap_site, "dave", PASSWORDS["dave"])
    assert response.status_code == 302, (response.status_code, response.text[:300])
    assert user_model(session, "dave")["admin"] is False


def test_directory_user_outside_the_allowed_groups_is_refused(ldap_site):
    session, response = post_login(ldap_site, "mallory", PASSWORDS["mallory"])
    assert response.status_code == 403, response.status_code
    assert session.get(f"{ldap_site.url}/hub/api/user", timeout=30).status_code in (401, 403)


def test_wrong_password_is_refused(ldap_site):
    session, response = post_login(ldap_site, "alice", PASSWORDS["alice"] + "-wrong")
    assert response.status_code == 403, response.status_code
    assert session.get(f"{ldap_site.url}/hub/api/user", timeout=30).status_code in (401, 403)


def test_logins_used_starttls(ldap_site):
    logs = run(["docker", "logs", LDAP_CONTAINER], check=False)
    log = logs.stdout + logs.stderr
    # 1.3.6.1.4.1.1466.20037 is the StartTLS extended operation; slapd logs each one.
    assert "oid=1.3.6.1.4.1.1466.20037" in log
    assert f'BIND dn="uid=alice,ou=people,{SUFFIX}" method=128' in log


@pytest.mark.parametrize(("setting", "expected"), [
    ({"LDAP_URL": ""}, "error: LDAP_URL is empty in .env"),
    ({"LDAP_URL": "ldap://nowhere.ldap.e2e.test"}, "error: LDAP server nowhere.ldap.e2e.test:389 (LDAP_URL in .env) is unreachable"),
    ({"LDAP_CA_CERT": "./hub/missing-ca.pem"}, "error: LDAP_CA_CERT=./hub/missing-ca.pem in .env: no such file"),
])
def test_make_check_names_a_bad_ldap_setting(ldap_site, setting, expected):
    before = {key: ldap_site.env[key] for key in setting}
    set_env(ldap_site, **setting)
    try:
        result = ldap_site.make("check", check=False, timeout=300)
    finally:
        set_env(ldap_site, **before)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(expected), result.stderr


def test_make_check_reaches_the_ldap_server(ldap_site):
    result = ldap_site.make("check", timeout=300)
    assert "check: the LDAP server answers" in result.stdout
