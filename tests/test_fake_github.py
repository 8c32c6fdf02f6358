"""The GitHub stand-in of the e2e suite (tests/e2e/fake_github.py), driven by the real
OAuthenticator GitHubOAuthenticator, without Docker.

The hub's own path is followed: the authorize URL is built the way OAuthLoginHandler
builds it (client_id, redirect_uri, scope, state, PKCE S256 challenge), the fake signs a
user in and redirects with a code, and then `Authenticator.get_authenticated_user` runs
OAuthenticator's real token exchange, /user lookup and allowed_users /
allowed_organizations checks over HTTP against the fake, with a minimal handler standing
in for OAuthCallbackHandler (get_argument for the code, get_state_cookie for PKCE).
"""

import asyncio
import base64
import hashlib
import http.client
import importlib.util
import json
import secrets
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

oauthenticator_github = pytest.importorskip("oauthenticator.github")
from tornado.web import HTTPError  # noqa: E402  (tornado comes with oauthenticator)

FAKE_PATH = Path(__file__).resolve().parent / "e2e" / "fake_github.py"
_spec = importlib.util.spec_from_file_location("fake_github", FAKE_PATH)
fake_github = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("fake_github", fake_github)
_spec.loader.exec_module(fake_github)

CLIENT_ID, CLIENT_SECRET = "Ov23liTestClientId", "test0123456789abcdef0123456789abcdef0123"
CALLBACK = "https://hub.example.test/hub/oauth_callback"
USERS = "alice,bob,carol,dave,mallory"
MEMBERS = "research:carol,research/ml:dave,research:bob"


@pytest.fixture(scope="module")
def github():
    server = fake_github.make_server(USERS, org_members=MEMBERS, client_id=CLIENT_ID,
                                     client_secret=CLIENT_SECRET, callback_url=CALLBACK)
    thread = fake_github.serve_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def make_authenticator(github, **config):
    config = {
        "github_url": github.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "oauth_callback_url": CALLBACK,
        **config,
    }
    return oauthenticator_github.GitHubOAuthenticator(**config)


def request(github, method, path, body=None, headers=None):
    """One HTTP request, redirects not followed: (status, headers, body text)."""
    parts = urlsplit(github.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read().decode("utf-8")
    finally:
        conn.close()


def pkce_pair():
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def sign_in(github, authenticator, login, method="GET", **overrides):
    """The browser's part: authorize URL as OAuthLoginHandler makes it, the user signs in.
    Returns (code, state cookie value as OAuthCallbackHandler would read it)."""
    verifier, challenge = pkce_pair()
    state = base64.urlsafe_b64encode(json.dumps({"state_id": secrets.token_hex(16)}).encode()).decode()
    params = {
        "redirect_uri": authenticator.get_callback_url(),
        "client_id": authenticator.client_id,
        "scope": " ".join(authenticator.scope),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "response_type": "code",
    }
    params = {k: v for k, v in {**params, **overrides}.items() if v is not None}
    authorize = urlsplit(authenticator.authorize_url)
    assert f"{authorize.scheme}://{authorize.netloc}" == github.url
    if method == "GET":
        status, headers, body = request(github, "GET", f"{authorize.path}?{urlencode({**params, 'login': login})}")
    else:
        status, headers, body = request(
            github, "POST", authorize.path, urlencode({**params, "login": login}),
            {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302, (status, body)
    location = urlsplit(headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == [state]
    cookie = base64.urlsafe_b64encode(json.dumps(
        {"state_id": "x", "next_url": None, "code_verifier": verifier}).encode()).decode("ascii")
    return query["code"][0], cookie


class CallbackHandler:
    """What OAuthenticator needs of OAuthCallbackHandler in authenticate()."""

    def __init__(self, code, state_cookie):
        self.code, self.state_cookie = code, state_cookie

    def get_argument(self, name, default=None):
        return {"code": self.code}.get(name, default)

    def get_state_cookie(self):
        return self.state_cookie


def login(github, username, **config):
    """Sign `username` in at the fake and run the hub's real authentication; returns the
    auth model (dict) or None when the user is not allowed."""
    async def go():
        authenticator = make_authenticator(github, **config)
        code, cookie = sign_in(github, authenticator, username)
        return await authenticator.get_authenticated_user(CallbackHandler(code, cookie), None)
    return asyncio.run(go())


# -- the real authenticator against the fake ------------------------------------


def test_enterprise_urls_point_at_the_fake(github):
    authenticator = make_authenticator(github)
    assert authenticator.authorize_url == f"{github.url}/login/oauth/authorize"
    assert authenticator.token_url == f"{github.url}/login/oauth/access_token"
    assert authenticator.userdata_url == f"{github.url}/api/v3/user"
    assert authenticator.github_api == f"{github.url}/api/v3"


def test_allowed_user_is_authenticated(github):
    model = login(github, "alice", allowed_users={"alice"})
    assert model is not None
    assert model["name"] == "alice"
    assert model["admin"] is None
    state = model["auth_state"]
    assert state["github_user"]["login"] == "alice"
    assert state["github_user"]["email"] == "alice@example.com"
    assert state["token_response"]["token_type"] == "bearer"
    assert state["access_token"].startswith("gho_")


def test_admin_user_is_authenticated_as_admin(github):
    model = login(github, "alice", admin_users={"alice"})
    assert model["name"] == "alice" and model["admin"] is True


def test_login_is_case_insensitive_and_normalized(github):
    model = login(github, "ALICE", allowed_users={"alice"})
    assert model["name"] == "alice"


def test_user_not_allowed_is_refused(github):
    assert login(github, "mallory", allowed_users={"alice"}) is None
    assert login(github, "mallory", allowed_users={"alice"}, allowed_organizations={"research"},
                 scope=["read:org"]) is None


def test_organization_member_is_allowed(github):
    model = login(github, "carol", allowed_users={"alice"}, allowed_organizations={"research"},
                  scope=["read:org"])
    assert model is not None and model["name"] == "carol"
    # a team member is an organization member too
    assert login(github, "dave", allowed_organizations={"research"}, scope=["read:org"])["name"] == "dave"


def test_organization_membership_needs_read_org_scope(github):
    # Memberships are private: without read:org GitHub answers 302 -> public_members -> 404.
    assert login(github, "carol", allowed_organizations={"research"}) is None


def test_team_member_is_allowed(github):
    config = {"allowed_organizations": {"research:ml"}, "scope": ["read:org"]}
    assert login(github, "dave", **config)["name"] == "dave"
    assert login(github, "carol", **config) is None  # in the org, not in the team
    assert login(github, "mallory", **config) is None
    assert login(github, "carol", allowed_organizations={"research:nosuchteam"}, scope=["read:org"]) is None
    assert login(github, "carol", allowed_organizations={"nosuchorg"}, scope=["read:org"]) is None


def test_populate_teams_in_auth_state(github):
    model = login(github, "dave", allowed_users={"dave"}, populate_teams_in_auth_state=True,
                  scope=["read:org"])
    teams = model["auth_state"]["teams"]
    assert [(t["organization"]["login"], t["slug"]) for t in teams] == [("research", "ml")]
    model = login(github, "carol", allowed_users={"carol"}, populate_teams_in_auth_state=True,
                  scope=["read:org"])
    assert model["auth_state"]["teams"] == []


def test_basic_auth_token_request(github):
    assert login(github, "alice", allowed_users={"alice"}, basic_auth=True)["name"] == "alice"


def test_wrong_client_secret_fails(github):
    async def go():
        authenticator = make_authenticator(github, client_secret="wrong", allowed_users={"alice"})
        code, cookie = sign_in(github, authenticator, "alice")
        with pytest.raises(HTTPError) as error:
            await authenticator.get_authenticated_user(CallbackHandler(code, cookie), None)
        return error.value

    error = asyncio.run(go())
    assert error.status_code == 403
    assert "client_id and/or client_secret passed are incorrect" in error.log_message


def test_code_is_single_use_and_bound_to_pkce_verifier(github):
    async def go():
        authenticator = make_authenticator(github, allowed_users={"alice"})
        code, cookie = sign_in(github, authenticator, "alice")
        assert (await authenticator.get_authenticated_user(CallbackHandler(code, cookie), None))["name"] == "alice"
        with pytest.raises(HTTPError) as reused:
            await authenticator.get_authenticated_user(CallbackHandler(code, cookie), None)
        code2, _ = sign_in(github, authenticator, "alice")
        with pytest.raises(HTTPError) as wrong_verifier:
            await authenticator.get_authenticated_user(CallbackHandler(code2, cookie), None)
        return reused.value, wrong_verifier.value

    reused, wrong_verifier = asyncio.run(go())
    assert reused.status_code == 403 and "incorrect or expired" in reused.log_message
    assert wrong_verifier.status_code == 403 and "code_verifier" in wrong_verifier.log_message


def test_sign_in_through_the_form_post(github):
    async def go():
        authenticator = make_authenticator(github, allowed_users={"bob"})
        code, cookie = sign_in(github, authenticator, "bob", method="POST")
        return await authenticator.get_authenticated_user(CallbackHandler(code, cookie), None)

    assert asyncio.run(go())["name"] == "bob"


# -- the fake's own HTTP surface --------------------------------------------------


def test_authorize_shows_sign_in_form(github):
    query = urlencode({"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": "s t", "scope": "read:org"})
    status, headers, body = request(github, "GET", f"/login/oauth/authorize?{query}")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert 'name="login"' in body and 'id="sign-in"' in body
    assert 'method="post" action="/login/oauth/authorize"' in body
    assert 'name="state" value="s t"' in body and 'name="redirect_uri"' in body


def test_authorize_rejects_unknown_client_user_and_foreign_redirect(github):
    base = {"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": "s"}
    status, _, _ = request(github, "GET", "/login/oauth/authorize?" + urlencode({**base, "client_id": "nope"}))
    assert status == 404
    status, _, body = request(github, "GET", "/login/oauth/authorize?" + urlencode({**base, "login": "eve"}))
    assert status == 403 and "eve" in body
    status, _, body = request(github, "POST", "/login/oauth/authorize", urlencode({**base, "login": "eve"}),
                              {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403
    status, headers, _ = request(github, "GET", "/login/oauth/authorize?" + urlencode(
        {**base, "redirect_uri": "https://evil.example.test/hub/oauth_callback", "login": "alice"}))
    assert status == 302
    location = urlsplit(headers["Location"])
    assert location.netloc == "hub.example.test"
    assert parse_qs(location.query)["error"] == ["redirect_uri_mismatch"]
    status, headers, _ = request(github, "POST", "/login/oauth/authorize", urlencode({**base, "cancel": "1"}),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302 and parse_qs(urlsplit(headers["Location"]).query)["error"] == ["access_denied"]


def token_request(github, fields, accept="application/json"):
    return request(github, "POST", "/login/oauth/access_token", urlencode(fields),
                   {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept})


def test_token_endpoint_formats_and_errors(github):
    authenticator = make_authenticator(github)
    code, _ = sign_in(github, authenticator, "alice", code_challenge=None, code_challenge_method=None,
                      scope="read:org user:email")
    creds = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    # redirect_uri must match the one given at authorize; a mismatch burns the code
    status, _, body = token_request(github, {**creds, "code": code, "redirect_uri": CALLBACK + "/other"})
    assert status == 200 and json.loads(body)["error"] == "redirect_uri_mismatch"
    code, _ = sign_in(github, authenticator, "alice", code_challenge=None, code_challenge_method=None,
                      scope="read:org user:email")
    status, headers, body = token_request(github, {**creds, "code": code}, accept="*/*")
    assert status == 200 and headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    answer = parse_qs(body)
    assert answer["token_type"] == ["bearer"] and answer["scope"] == ["read:org,user:email"]
    token = answer["access_token"][0]
    status, _, body = token_request(github, {**creds, "code": "0" * 20})
    assert status == 200 and json.loads(body)["error"] == "bad_verification_code"

    status, headers, body = request(github, "GET", "/api/v3/user", headers={"Authorization": f"token {token}"})
    assert status == 200 and json.loads(body)["login"] == "alice"
    assert headers["X-OAuth-Scopes"] == "read:org, user:email"
    status, _, body = request(github, "GET", "/api/v3/user/orgs", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body) == []  # alice belongs to no organization
    status, _, body = request(github, "GET", "/api/v3/user/emails", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)[0]["primary"] is True
    assert request(github, "GET", "/api/v3/user")[0] == 401
    assert request(github, "GET", "/api/v3/user", headers={"Authorization": "Bearer gho_nope"})[0] == 401


def test_membership_endpoints(github):
    authenticator = make_authenticator(github, scope=["read:org"])
    code, cookie = sign_in(github, authenticator, "carol")
    status, _, body = token_request(github, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                             "code": code, "redirect_uri": CALLBACK,
                                             "code_verifier": "wrong"})
    assert json.loads(body)["error"] == "bad_verification_code"
    code, cookie = sign_in(github, authenticator, "carol")
    verifier = json.loads(base64.urlsafe_b64decode(cookie))["code_verifier"]
    _, _, body = token_request(github, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                        "code": code, "code_verifier": verifier})
    auth = {"Authorization": "Bearer " + json.loads(body)["access_token"]}
    assert request(github, "GET", "/api/v3/orgs/research/members/carol", headers=auth)[0] == 204
    assert request(github, "GET", "/api/v3/orgs/Research/members/BOB", headers=auth)[0] == 204
    assert request(github, "GET", "/api/v3/orgs/research/members/mallory", headers=auth)[0] == 404
    assert request(github, "GET", "/api/v3/orgs/research/teams/ml/members/dave", headers=auth)[0] == 204
    assert request(github, "GET", "/api/v3/orgs/research/teams/ml/members/carol", headers=auth)[0] == 404
    status, _, body = request(github, "GET", "/api/v3/orgs/research/teams/ml/memberships/dave", headers=auth)
    assert status == 200 and json.loads(body)["state"] == "active"
    status, headers, _ = request(github, "GET", "/api/v3/orgs/research/members/carol")
    assert status == 302 and headers["Location"].endswith("/api/v3/orgs/research/public_members/carol")
    assert request(github, "GET", "/api/v3/orgs/research/public_members/carol")[0] == 404
    assert request(github, "GET", "/api/v3/orgs/nosuchorg/members/carol", headers=auth)[0] == 404


def test_bad_membership_syntax_is_rejected():
    with pytest.raises(ValueError, match="not one of the users"):
        fake_github.make_server("alice", org_members="research:bob", client_id="i", client_secret="s")
    with pytest.raises(ValueError, match="ORG:LOGIN"):
        fake_github.make_server("alice", org_members="research", client_id="i", client_secret="s")


def test_log_lines_carry_no_secrets(github, capfd):
    login(github, "alice", allowed_users={"alice"})
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("fake-github ")]
    assert any(line.startswith("fake-github POST /login/oauth/access_token 200 user=alice") for line in lines)
    assert any(line.startswith("fake-github GET /api/v3/user 200 user=alice") for line in lines)
    assert CLIENT_SECRET not in err and "code=" not in err and "gho_" not in err
