"""OpenID Connect login (authenticator oidc): the hub config against a served discovery
document, `make check`'s lines, and what generation writes.

The discovery document is served over HTTPS on loopback by a certificate from a
throwaway CA, which the config trusts through its private-CA file, as a site does
with hub/oidc-ca/ca.pem.
"""

import http.server
import json
import ssl
import subprocess
import sys
import threading

import pytest

from template_helpers import bake_ok, env_secrets, variant_context
from test_hub_config import assert_no_config_warnings, compose_environment, run_probe
from tls_helpers import issue_server_certificate

CLIENT_ID, CLIENT_SECRET = "jupyterhub", "kc-secret-0123456789abcdef"


class Discovery(http.server.BaseHTTPRequestHandler):
    """Serves one discovery document; `issuer_override` makes it name another issuer."""

    issuer_override = None

    def do_GET(self):  # noqa: N802  (http.server's name)
        issuer = f"https://localhost:{self.server.server_port}/realms/campus"
        if self.path != "/realms/campus/.well-known/openid-configuration":
            self.send_error(404)
            return
        body = json.dumps({
            "issuer": self.issuer_override or issuer,
            "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "userinfo_endpoint": f"{issuer}/protocol/openid-connect/userinfo",
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """(issuer URL, CA file) of a discovery endpoint on loopback."""
    ca, cert, key = issue_server_certificate(tmp_path_factory.mktemp("oidc-tls"), ["localhost"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Discovery)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_port}/realms/campus", str(ca)
    server.shutdown()


def oidc_site(cookies, **answers):
    return bake_ok(cookies, {**variant_context("oidc-keycloak"), "oidc_client_secret": CLIENT_SECRET, **answers})


def load_oidc_config(project, provider, **overrides):
    issuer, ca = provider
    result = run_probe(project, compose_environment(project, OIDC_ISSUER=issuer, OIDC_CA_FILE=ca, **overrides))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_endpoints_come_from_the_discovery_document(cookies, provider):
    project = oidc_site(cookies)
    config = load_oidc_config(project, provider, OIDC_ALLOWED_GROUPS="physics, lab staff", OIDC_ADMIN_GROUPS="hub-admins")
    assert_no_config_warnings(config)
    issuer, ca = provider
    assert config["authenticator_class"] == "oauthenticator.generic.GenericOAuthenticator"
    assert config["authorize_url"] == f"{issuer}/protocol/openid-connect/auth"
    assert config["token_url"] == f"{issuer}/protocol/openid-connect/token"
    assert config["userdata_url"] == f"{issuer}/protocol/openid-connect/userinfo"
    assert config["http_request_kwargs"] == {"ca_certs": ca}
    assert config["client_id"] == "jupyterhub"
    assert config["oauth_callback_url"] == "https://hub.campus.example.org/hub/oauth_callback"
    assert config["scope"] == ["openid", "profile", "email"]
    assert config["username_claim"] == "preferred_username"
    assert config["manage_groups"] is True
    # Admin groups may log in too; with admins_can_access_servers (default yes) they are JupyterHub admins.
    assert config["allowed_groups"] == ["hub-admins", "lab staff", "physics"]
    assert config["admin_groups"] == ["hub-admins"]
    assert config["allowed_users"] == ["hub-admin"] and config["admin_users"] == ["hub-admin"]


def test_admin_groups_get_the_operator_role_when_admins_may_not_open_servers(cookies, provider):
    project = oidc_site(cookies, admins_can_access_servers=False)
    config = load_oidc_config(project, provider, OIDC_ADMIN_GROUPS="hub-admins")
    assert config["admin_groups"] == [] and config["admin_users"] == []
    operator = next(role for role in config["load_roles"] if role["name"] == "operator")
    assert operator["groups"] == ["hub-admins"] and operator["users"] == ["hub-admin"]
    assert config["allowed_groups"] == ["hub-admins"]


def test_provider_groups_replace_userlist_groups(cookies, provider):
    """JupyterHub refuses load_groups when the authenticator manages groups: the config leaves them out."""
    project = oidc_site(cookies)
    with (project / "userlist").open("a") as handle:
        handle.write("bob @physics\n")
    assert load_oidc_config(project, provider)["load_groups"] == {}
    without_claim = load_oidc_config(project, provider, OIDC_GROUPS_CLAIM="")
    assert without_claim["manage_groups"] is False
    assert without_claim["load_groups"] == {"physics": {"users": ["bob"]}}


@pytest.mark.parametrize("overrides, message", [
    ({"OIDC_ISSUER": "http://localhost/realms/campus"}, "OIDC_ISSUER='http://localhost/realms/campus' in .env is not an https:// URL"),
    ({"OIDC_ISSUER": ""}, "OIDC_ISSUER is empty in .env"),
    ({"OIDC_ISSUER": "https://localhost:9/realms/campus"}, "cannot read the OpenID Connect discovery document https://localhost:9/"),
    ({"OIDC_CA_FILE": "/nonexistent"}, "cannot read the OpenID Connect discovery document"),
    ({"OIDC_GROUPS_CLAIM": "", "OIDC_ALLOWED_GROUPS": "physics"}, "OIDC_ALLOWED_GROUPS and OIDC_ADMIN_GROUPS need OIDC_GROUPS_CLAIM"),
])
def test_a_broken_provider_setting_stops_the_hub_with_one_line(cookies, provider, overrides, message):
    project = oidc_site(cookies)
    issuer, ca = provider
    environment = compose_environment(project, OIDC_ISSUER=issuer, OIDC_CA_FILE=ca)
    if overrides.get("OIDC_CA_FILE") == "/nonexistent":
        del environment["OIDC_CA_FILE"]  # the image's public CAs do not know the test CA
        overrides = {}
    environment.update(overrides)
    result = run_probe(project, environment)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_an_issuer_mismatch_stops_the_hub(cookies, provider):
    project = oidc_site(cookies)
    Discovery.issuer_override = "https://elsewhere.example.org/realms/campus"
    try:
        result = run_probe(project, compose_environment(project, OIDC_ISSUER=provider[0], OIDC_CA_FILE=provider[1]))
    finally:
        Discovery.issuer_override = None
    assert result.returncode != 0
    assert "names issuer 'https://elsewhere.example.org/realms/campus'" in result.stderr


def check(project):
    return subprocess.run([sys.executable, "scripts/check.py", "nginx-container", "provided"], cwd=project,
                          capture_output=True, text=True)


def set_env(project, **values):
    helpers = env_secrets()
    path = project / ".env"
    helpers.write_private(path, helpers.set_values(path.read_text(), values))


def check_errors(project):
    return [line for line in check(project).stderr.splitlines() if line.startswith("error:")]


def test_make_check_names_each_oidc_problem_in_one_line(cookies):
    project = bake_ok(cookies, {"authenticator": "oidc", "tls_mode": "provided"})
    (project / "nginx" / "certs").mkdir(exist_ok=True)
    errors = [line for line in check_errors(project) if "OIDC" in line]
    assert errors == [
        "error: OIDC_ISSUER is empty in .env: set the provider's issuer URL, e.g. https://keycloak.example.org/realms/<realm> "
        "or https://gitlab.com",
        "error: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET not set in .env. Register a confidential OpenID Connect client at your "
        "provider with redirect URI https://hub.example.org/hub/oauth_callback, then copy its client ID and secret into "
        "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET in .env (README, \"OpenID Connect\").",
    ]
    set_env(project, OIDC_ISSUER="http://kc.example.org/realms/x", OIDC_CLIENT_ID="hub", OIDC_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_GROUPS_CLAIM="", OIDC_ADMIN_GROUPS="admins")
    errors = [line for line in check_errors(project) if "OIDC" in line]
    assert errors == [
        "error: OIDC_ISSUER='http://kc.example.org/realms/x' in .env is not an https:// URL without query or fragment, "
        "e.g. https://keycloak.example.org/realms/<realm>",
        "error: OIDC_ADMIN_GROUPS is set in .env but OIDC_GROUPS_CLAIM is empty: name the claim that lists the groups, e.g. groups",
    ]


def test_make_check_passes_a_configured_oidc_site_without_printing_the_secret(cookies):
    project = oidc_site(cookies)
    set_env(project, OIDC_ALLOWED_GROUPS="physics")
    (project / "nginx" / "certs").mkdir(exist_ok=True)
    subprocess.run(["make", "certs"], cwd=project, check=True, capture_output=True)
    with (project / "userlist").open("a") as handle:
        handle.write("bob @physics\n")
    result = check(project)
    assert result.returncode == 0, result.stderr
    assert "the @group words in userlist are not used" in result.stdout
    assert CLIENT_SECRET not in result.stdout + result.stderr


def test_generation_writes_the_answers_and_the_next_step(cookies):
    result = cookies.bake(extra_context={"authenticator": "oidc", "oidc_issuer": "https://gitlab.com", "https_port": "8443"})
    assert result.exit_code == 0
    env = env_secrets().parse_env((result.project_path / ".env").read_text())
    assert env["JUPYTERHUB_AUTHENTICATOR"] == "oidc" and env["OIDC_ISSUER"] == "https://gitlab.com"
    assert env["OIDC_CLIENT_ID"] == env["OIDC_CLIENT_SECRET"] == "CHANGE_ME"
    cruft = json.loads((result.project_path / ".cruft.json").read_text()) if (result.project_path / ".cruft.json").exists() else None
    if cruft:
        assert cruft["context"]["cookiecutter"]["oidc_client_secret"] == ""
    assert (result.project_path / "hub" / "oidc-ca" / "README.md").is_file()
