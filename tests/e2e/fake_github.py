#!/usr/bin/env python3
"""A stand-in for GitHub's OAuth web flow and the REST API calls OAuthenticator makes.

Standard library only, so it runs in any image that has python3 (the e2e suite runs it
in the hub image). Point OAuthenticator's GitHubOAuthenticator at it as if it were a
GitHub Enterprise Server: GITHUB_URL=http://HOST:PORT (or `c.GitHubOAuthenticator.github_url`).
OAuthenticator 17.4.0 then uses:

    GET  {GITHUB_URL}/login/oauth/authorize      the browser; client_id, redirect_uri,
                                                 scope, state, response_type=code,
                                                 code_challenge(+_method=S256)
    POST {GITHUB_URL}/login/oauth/access_token   form body: code, grant_type, redirect_uri,
                                                 code_verifier, client_id, client_secret
                                                 (or HTTP basic auth); Accept: application/json
    GET  {GITHUB_URL}/api/v3/user                Authorization: Bearer TOKEN
    GET  {GITHUB_URL}/api/v3/orgs/ORG/members/LOGIN               allowed_organizations "ORG"
    GET  {GITHUB_URL}/api/v3/orgs/ORG/teams/TEAM/members/LOGIN    allowed_organizations "ORG:TEAM"
    GET  {GITHUB_URL}/api/v3/user/emails         only if /user has no email and scope user(:email)
    GET  {GITHUB_URL}/api/v3/user/teams          populate_teams_in_auth_state

Run it:

    python3 fake_github.py --port 8080 --users alice,bob,mallory \
        --org-members research:alice,research/ml:bob --client-id ID --client-secret SECRET

Every option can also come from the environment (the flag wins): FAKE_GITHUB_HOST,
FAKE_GITHUB_PORT, FAKE_GITHUB_USERS, FAKE_GITHUB_ORG_MEMBERS, FAKE_GITHUB_TEAM_MEMBERS,
FAKE_GITHUB_CLIENT_ID, FAKE_GITHUB_CLIENT_SECRET, FAKE_GITHUB_CALLBACK_URL.

Membership syntax (comma-separated entries, in --org-members or --team-members alike):

    ORG:LOGIN         LOGIN is a member of organization ORG
    ORG/TEAM:LOGIN    LOGIN is a member of team TEAM (its slug) of ORG, and so of ORG too

Every LOGIN must be one of --users. Memberships are private, as GitHub's are by
default: the API reveals them only to a token granted `read:org` (or write:org,
admin:org), and only to a requester who is a member of that organization. Without
that, the organization check answers 302 to /orgs/ORG/public_members/LOGIN, which is
404, exactly what GitHub does, so a hub that forgets the `read:org` scope is refused.

Or from Python (e.g. a pytest running it in a thread):

    server = make_server(users="alice,bob", org_members="research:alice",
                         client_id="id", client_secret="secret")   # port 0: any free port
    serve_in_thread(server); ... server.url ...; server.shutdown(); server.server_close()

Sign-in: GET /login/oauth/authorize shows a form (input name="login", button
id="sign-in", button id="cancel") so a real browser can choose who signs in; adding
`login=NAME` to the authorize URL skips the form (GitHub itself takes a `login`
parameter there, as a suggested account). A known login gets a 302 to
redirect_uri?code=...&state=...; an unknown one a 403 page; cancel redirects with
error=access_denied like GitHub. Codes are single use, expire after ten minutes, are
bound to the client, the redirect_uri and the PKCE challenge given at authorize.

The token endpoint answers errors the way GitHub does: HTTP 200 with
{"error": "...", "error_description": "...", "error_uri": "..."} (incorrect_client_credentials,
bad_verification_code, redirect_uri_mismatch); OAuthenticator turns an error_description
into a 403. JSON, XML or form encoding follows the Accept header, as on GitHub.

Each request is logged to stderr on one line: method, path (no query string, so no
codes or states), status, and the user when known. No token or secret is ever logged.
"""

import argparse
import base64
import hashlib
import html
import json
import os
import secrets
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

CODE_TTL = 600  # GitHub's codes expire after 10 minutes
API_PREFIX = "/api/v3"
DOCS = "https://docs.github.com/rest"
TROUBLESHOOTING = (
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors/"
)
TOKEN_ERRORS = {
    "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
    "bad_verification_code": "The code passed is incorrect or expired.",
    "redirect_uri_mismatch": "The redirect_uri MUST match the registered callback URL for this application.",
    "unsupported_grant_type": "The grant type is not supported.",
}
# scope -> the scopes it implies (GitHub's OAuth app scopes)
SCOPE_IMPLIES = {
    "user": {"read:user", "user:email", "user:follow"},
    "admin:org": {"write:org", "read:org"},
    "write:org": {"read:org"},
    "repo": {"repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"},
}


def _split(value):
    """'a, b,,c' or ['a', 'b'] -> ['a', 'b', 'c']"""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [item.strip() for item in value if item and item.strip()]


def _split_scopes(value):
    """GitHub takes scopes separated by spaces or commas."""
    scopes = []
    for scope in (value or "").replace(",", " ").split():
        if scope not in scopes:
            scopes.append(scope)
    return scopes


def _expand_scopes(scopes):
    expanded = set(scopes)
    for scope in scopes:
        expanded |= SCOPE_IMPLIES.get(scope, set())
    return expanded


def _new_token(prefix):
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(36))


class FakeGitHub:
    """The state: users, memberships, the OAuth app, issued codes and tokens."""

    def __init__(self, users, org_members=(), team_members=(), client_id="", client_secret="",
                 callback_url=None, code_ttl=CODE_TTL):
        self.client_id = client_id
        self.client_secret = client_secret
        self.callback_url = callback_url or None
        self.code_ttl = code_ttl
        self.lock = threading.Lock()
        self.codes = {}  # code -> grant dict
        self.tokens = {}  # access token -> grant dict
        self.users = {}  # lower-case login -> user model
        for index, login in enumerate(_split(users)):
            if login.lower() in self.users:
                raise ValueError(f"user {login!r} listed twice")
            self.users[login.lower()] = {
                "login": login,
                "id": 1001 + index,
                "node_id": base64.b64encode(f"04:User{1001 + index}".encode()).decode(),
                "type": "User",
                "site_admin": False,
                "name": login.capitalize(),
                "email": f"{login.lower()}@example.com",
                "company": None,
                "location": None,
                "bio": None,
            }
        self.orgs = {}  # lower-case org -> {"login": name, "members": set(lower logins)}
        self.teams = {}  # (lower org, lower slug) -> {"slug": slug, "members": set(...)}
        for entry in _split(org_members) + _split(team_members):
            self.add_membership(entry)

    def add_membership(self, entry):
        """ORG:LOGIN or ORG/TEAM:LOGIN"""
        target, sep, login = entry.rpartition(":")
        org, _, team = target.partition("/")
        if not sep or not org or not login or ("/" in target and not team):
            raise ValueError(f"membership {entry!r}: expected ORG:LOGIN or ORG/TEAM:LOGIN")
        if login.lower() not in self.users:
            raise ValueError(f"membership {entry!r}: {login!r} is not one of the users")
        record = self.orgs.setdefault(org.lower(), {"login": org, "id": 5001 + len(self.orgs), "members": set()})
        record["members"].add(login.lower())
        if team:
            key = (org.lower(), team.lower())
            team_record = self.teams.setdefault(key, {"slug": team, "id": 7001 + len(self.teams), "members": set()})
            team_record["members"].add(login.lower())

    # -- OAuth -------------------------------------------------------------

    def redirect_uri_allowed(self, redirect_uri):
        """GitHub's rule: same scheme, host and port as the registered callback URL,
        path equal to or below its path. Without a registered URL, any http(s) URL."""
        if not redirect_uri:
            return bool(self.callback_url)
        given = urlsplit(redirect_uri)
        if given.scheme not in ("http", "https") or not given.netloc:
            return False
        if not self.callback_url:
            return True
        registered = urlsplit(self.callback_url)
        if (given.scheme, given.netloc.lower()) != (registered.scheme, registered.netloc.lower()):
            return False
        base = registered.path.rstrip("/")
        return given.path == registered.path or given.path.startswith(base + "/")

    def issue_code(self, login, client_id, redirect_uri, scope, code_challenge, code_challenge_method):
        code = secrets.token_hex(10)  # GitHub's codes are 20 hex characters
        with self.lock:
            self.codes[code] = {
                "login": self.users[login.lower()]["login"],
                "client_id": client_id,
                "redirect_uri": redirect_uri or None,
                "scopes": _split_scopes(scope),
                "code_challenge": code_challenge or None,
                "code_challenge_method": code_challenge_method or "plain",
                "expires": time.monotonic() + self.code_ttl,
            }
        return code

    def exchange_code(self, params, basic_credentials):
        """Returns (token response dict, login or None)."""
        client_id = params.get("client_id")
        client_secret = params.get("client_secret")
        if basic_credentials:
            client_id, client_secret = basic_credentials
        grant_type = params.get("grant_type", "authorization_code")
        if client_id != self.client_id or not secrets.compare_digest(
            (client_secret or "").encode(), self.client_secret.encode()
        ):
            return self.token_error("incorrect_client_credentials"), None
        if grant_type != "authorization_code":
            return self.token_error("unsupported_grant_type"), None
        with self.lock:
            grant = self.codes.pop(params.get("code") or "", None)  # single use
        if grant is None or grant["expires"] < time.monotonic() or grant["client_id"] != client_id:
            return self.token_error("bad_verification_code"), None
        redirect_uri = params.get("redirect_uri")
        if redirect_uri and grant["redirect_uri"] and redirect_uri != grant["redirect_uri"]:
            return self.token_error("redirect_uri_mismatch"), grant["login"]
        if grant["code_challenge"] and not self.pkce_ok(grant, params.get("code_verifier")):
            return self.token_error("bad_verification_code",
                                    "The code_verifier does not match the code_challenge."), grant["login"]
        token = _new_token("gho_")
        with self.lock:
            self.tokens[token] = {"login": grant["login"], "scopes": grant["scopes"]}
        return {"access_token": token, "token_type": "bearer", "scope": ",".join(grant["scopes"])}, grant["login"]

    @staticmethod
    def pkce_ok(grant, verifier):
        if not verifier:
            return False
        if grant["code_challenge_method"] == "S256":
            digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
            computed = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        else:
            computed = verifier
        return secrets.compare_digest(computed.encode(), grant["code_challenge"].encode())

    @staticmethod
    def token_error(error, description=None):
        return {
            "error": error,
            "error_description": description or TOKEN_ERRORS[error],
            "error_uri": TROUBLESHOOTING + "#" + error.replace("_", "-"),
        }

    def grant_for(self, token):
        with self.lock:
            return self.tokens.get(token)

    # -- API helpers -------------------------------------------------------

    def sees_org(self, grant, org_key):
        """A token sees an org's (private) memberships if it has read:org and its
        user is a member of that org."""
        org = self.orgs.get(org_key)
        return bool(
            grant and org and "read:org" in _expand_scopes(grant["scopes"])
            and grant["login"].lower() in org["members"]
        )

    def org_model(self, org_key, base):
        org = self.orgs[org_key]
        return {
            "login": org["login"],
            "id": org["id"],
            "url": f"{base}{API_PREFIX}/orgs/{org['login']}",
            "description": None,
        }

    def team_model(self, key, base):
        team = self.teams[key]
        return {
            "name": team["slug"],
            "slug": team["slug"],
            "id": team["id"],
            "privacy": "closed",
            "permission": "pull",
            "url": f"{base}{API_PREFIX}/teams/{team['id']}",
            "html_url": f"{base}/orgs/{self.orgs[key[0]]['login']}/teams/{team['slug']}",
            "organization": self.org_model(key[0], base),
        }


def _page(title, body):
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-github"
    protocol_version = "HTTP/1.0"  # one request per connection: simple and robust

    def version_string(self):
        return self.server_version

    @property
    def fake(self):
        return self.server.fake

    # -- plumbing ----------------------------------------------------------

    def log_request(self, code="-", size="-"):
        path = urlsplit(self.path).path
        who = f" user={self._log_user}" if getattr(self, "_log_user", None) else ""
        sys.stderr.write(f"fake-github {self.command} {path} {code}{who}\n")
        sys.stderr.flush()

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
        # Only error messages reach here (log_request is overridden); keep them one line.
        sys.stderr.write("fake-github " + (format % args).replace("\n", " ") + "\n")

    def base_url(self):
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def send(self, status, body=b"", content_type="text/plain; charset=utf-8", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status, payload, headers=None):
        self.send(status, json.dumps(payload), "application/json; charset=utf-8", headers)

    def send_html(self, status, title, body):
        self.send(status, _page(title, body), "text/html; charset=utf-8")

    def redirect(self, location):
        self.send(302, "", headers={"Location": location})

    def query(self):
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def read_params(self):
        """Query string merged with a form or JSON body (GitHub takes all three)."""
        params = self.query()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw:
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type == "application/json":
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    body = {}
                params.update({k: str(v) for k, v in body.items()} if isinstance(body, dict) else {})
            else:
                params.update(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
        return params

    # -- routing -----------------------------------------------------------

    def do_GET(self):
        self.route("GET")

    def do_HEAD(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        path = urlsplit(self.path).path
        try:
            if path in ("/", "/api/v3", "/api/v3/"):
                if path == "/":
                    self.send(200, "fake GitHub is up\n")
                else:
                    self.send_json(200, {"current_user_url": f"{self.base_url()}{API_PREFIX}/user"})
            elif path == "/login/oauth/authorize":
                self.authorize(method)
            elif path == "/login/oauth/access_token":
                if method != "POST":
                    self.send(404, "Not Found\n")
                else:
                    self.access_token()
            elif path.startswith(API_PREFIX + "/"):
                if method != "GET":
                    self.api_error(404, "Not Found")
                else:
                    self.api(path[len(API_PREFIX):])
            else:
                self.send(404, "Not Found\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- OAuth web flow ----------------------------------------------------

    def authorize(self, method):
        params = self.read_params() if method == "POST" else self.query()
        client_id = params.get("client_id", "")
        if client_id != self.fake.client_id:
            self.send_html(404, "Not Found", "<h1>404</h1><p>Unknown OAuth application (client_id).</p>")
            return
        redirect_uri = params.get("redirect_uri") or self.fake.callback_url
        if not self.fake.redirect_uri_allowed(redirect_uri):
            if self.fake.callback_url:
                self.redirect(self.with_query(self.fake.callback_url, {
                    "error": "redirect_uri_mismatch",
                    "error_description": "The redirect_uri MUST match the registered callback URL for this application.",
                    "error_uri": "https://docs.github.com/apps/managing-oauth-apps/"
                                 "troubleshooting-authorization-request-errors/#redirect-uri-mismatch",
                    "state": params.get("state", ""),
                }))
            else:
                self.send_html(400, "Bad request", "<h1>400</h1><p>Missing or invalid redirect_uri.</p>")
            return
        if params.get("response_type", "code") != "code":
            self.send_html(400, "Bad request", "<h1>400</h1><p>Unsupported response_type.</p>")
            return
        if params.get("code_challenge") and params.get("code_challenge_method", "plain") not in ("S256", "plain"):
            self.send_html(400, "Bad request", "<h1>400</h1><p>Unsupported code_challenge_method.</p>")
            return
        if method == "POST" and "cancel" in params:
            self.redirect(self.with_query(redirect_uri, {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": "https://docs.github.com/apps/managing-oauth-apps/"
                             "troubleshooting-authorization-request-errors/#access-denied",
                "state": params.get("state", ""),
            }))
            return
        login = (params.get("login") or "").strip()
        if not login:
            if method == "POST":
                self.send_html(403, "Sign-in failed", "<h1>403</h1><p>No login given.</p>")
            else:
                self.sign_in_form(params)
            return
        user = self.fake.users.get(login.lower())
        if user is None:
            self._log_user = "(unknown)"
            self.send_html(403, "Sign-in failed",
                           f"<h1>403</h1><p>Incorrect username: {html.escape(login)} is not a user here.</p>")
            return
        self._log_user = user["login"]
        code = self.fake.issue_code(
            user["login"], client_id, params.get("redirect_uri"), params.get("scope", ""),
            params.get("code_challenge"), params.get("code_challenge_method"),
        )
        reply = {"code": code}
        if "state" in params:
            reply["state"] = params["state"]
        self.redirect(self.with_query(redirect_uri, reply))

    @staticmethod
    def with_query(url, extra):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
        return urlunsplit(parts._replace(query=urlencode(query)))

    def sign_in_form(self, params):
        keep = ("client_id", "redirect_uri", "state", "scope", "response_type",
                "code_challenge", "code_challenge_method")
        hidden = "\n".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params[name], quote=True)}">'
            for name in keep if name in params
        )
        users = ", ".join(html.escape(user["login"]) for user in self.fake.users.values())
        scopes = html.escape(", ".join(_split_scopes(params.get("scope", ""))) or "(none)")
        body = f"""<h1>Sign in to GitHub</h1>
<p>to continue to the OAuth application <code>{html.escape(params["client_id"])}</code>
(scopes: {scopes}). Known users: {users}.</p>
<form method="post" action="/login/oauth/authorize" id="login-form">
{hidden}
<label for="login_field">Username</label>
<input type="text" name="login" id="login_field" autocomplete="username" autofocus>
<button type="submit" id="sign-in" name="authorize" value="1">Sign in</button>
<button type="submit" id="cancel" name="cancel" value="1">Cancel</button>
</form>"""
        self.send_html(200, "Sign in to GitHub", body)

    def basic_credentials(self):
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            client_id, _, client_secret = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return ("", "")
        return client_id, client_secret

    def access_token(self):
        params = self.read_params()
        payload, login = self.fake.exchange_code(params, self.basic_credentials())
        self._log_user = login
        if "error" in payload:
            self._log_user = f"{login or '-'} error={payload['error']}"
        accept = (self.headers.get("Accept") or "").lower()
        if "application/json" in accept:
            self.send_json(200, payload)
        elif "application/xml" in accept:
            items = "".join(f"<{k}>{html.escape(v)}</{k}>" for k, v in payload.items())
            self.send(200, f"<OAuth>{items}</OAuth>", "application/xml; charset=utf-8")
        else:
            self.send(200, urlencode(payload), "application/x-www-form-urlencoded; charset=utf-8")

    # -- REST API ----------------------------------------------------------

    def api_error(self, status, message, headers=None):
        self.send_json(status, {"message": message, "documentation_url": DOCS, "status": str(status)}, headers)

    def authenticated(self):
        """The grant of the request's token, None if there is no token, False if it is bad."""
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token.strip():
            return None
        grant = self.fake.grant_for(token.strip())
        if grant:
            self._log_user = grant["login"]
        return grant or False

    def api(self, path):
        grant = self.authenticated()
        if grant is False:
            self.api_error(401, "Bad credentials")
            return
        headers = {"X-GitHub-Media-Type": "github.v3; format=json"}
        if grant:
            headers["X-OAuth-Scopes"] = ", ".join(grant["scopes"])
        parts = [part for part in path.split("/") if part]
        base = self.base_url()

        if parts[:1] == ["user"]:
            if not grant:
                self.api_error(401, "Requires authentication", headers)
                return
            me = self.fake.users[grant["login"].lower()]
            scopes = _expand_scopes(grant["scopes"])
            if parts == ["user"]:
                self.send_json(200, self.user_model(me, base), headers)
            elif parts == ["user", "emails"]:
                if "user:email" not in scopes:
                    self.api_error(404, "Not Found", headers)
                else:
                    self.send_json(200, [{"email": me["email"], "primary": True, "verified": True,
                                          "visibility": "private"}], headers)
            elif parts == ["user", "orgs"]:
                orgs = [self.fake.org_model(key, base) for key in sorted(self.fake.orgs)
                        if self.fake.sees_org(grant, key)]
                self.send_json(200, orgs, headers)
            elif parts == ["user", "teams"]:
                teams = [self.fake.team_model(key, base) for key in sorted(self.fake.teams)
                         if self.fake.sees_org(grant, key[0])
                         and me["login"].lower() in self.fake.teams[key]["members"]]
                self.send_json(200, teams, headers)
            else:
                self.api_error(404, "Not Found", headers)
            return

        if len(parts) == 2 and parts[0] == "users":
            user = self.fake.users.get(parts[1].lower())
            if user:
                self.send_json(200, self.user_model(user, base, public=True), headers)
            else:
                self.api_error(404, "Not Found", headers)
            return

        if parts[:1] == ["orgs"] and len(parts) >= 2:
            org_key = parts[1].lower()
            org = self.fake.orgs.get(org_key)
            if org is None:
                self.api_error(404, "Not Found", headers)
                return
            if len(parts) == 2:
                self.send_json(200, self.fake.org_model(org_key, base), headers)
                return
            if len(parts) == 4 and parts[2] == "members":
                # "Check organization membership for a user"
                if not self.fake.sees_org(grant, org_key):
                    location = f"{base}{API_PREFIX}/orgs/{org['login']}/public_members/{parts[3]}"
                    self.send(302, "", headers={**headers, "Location": location})
                elif parts[3].lower() in org["members"]:
                    self.send(204, "", headers=headers)
                else:
                    self.api_error(404, "User does not exist or is not a member of the organization", headers)
                return
            if len(parts) == 4 and parts[2] == "public_members":
                # All memberships here are private (GitHub's default).
                self.api_error(404, "Not Found", headers)
                return
            if len(parts) == 6 and parts[2] == "teams" and parts[4] in ("members", "memberships"):
                team = self.fake.teams.get((org_key, parts[3].lower()))
                member = team is not None and parts[5].lower() in team["members"]
                if not (self.fake.sees_org(grant, org_key) and member):
                    self.api_error(404, "Not Found", headers)
                elif parts[4] == "members":
                    self.send(204, "", headers=headers)
                else:
                    self.send_json(200, {
                        "url": f"{base}{API_PREFIX}/teams/{team['id']}/memberships/{parts[5]}",
                        "role": "member",
                        "state": "active",
                    }, headers)
                return
        self.api_error(404, "Not Found", headers)

    @staticmethod
    def user_model(user, base, public=False):
        model = dict(user)
        login = user["login"]
        model.update({
            "avatar_url": f"{base}/avatars/{login}",
            "url": f"{base}{API_PREFIX}/users/{login}",
            "html_url": f"{base}/{login}",
            "organizations_url": f"{base}{API_PREFIX}/users/{login}/orgs",
        })
        if public:
            model["email"] = None
        return model


class FakeGitHubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, fake):
        self.fake = fake
        super().__init__(address, Handler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{port}"


def make_server(users, org_members=(), team_members=(), client_id="", client_secret="",
                host="127.0.0.1", port=0, callback_url=None, code_ttl=CODE_TTL):
    """A FakeGitHubServer bound to (host, port) (port 0: a free one; see `.url`).
    users / org_members / team_members: comma-separated strings or lists."""
    if not client_id or not client_secret:
        raise ValueError("client_id and client_secret are required")
    fake = FakeGitHub(users, org_members, team_members, client_id, client_secret, callback_url, code_ttl)
    return FakeGitHubServer((host, int(port)), fake)


def serve_in_thread(server):
    """Start serve_forever in a daemon thread; stop with server.shutdown(), server.server_close()."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="fake-github", daemon=True)
    thread.start()
    return thread


def main(argv=None):
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=env("FAKE_GITHUB_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(env("FAKE_GITHUB_PORT", "8080")))
    parser.add_argument("--users", default=env("FAKE_GITHUB_USERS", ""), help="alice,bob,...")
    parser.add_argument("--org-members", default=env("FAKE_GITHUB_ORG_MEMBERS", ""),
                        help="ORG:LOGIN or ORG/TEAM:LOGIN, comma-separated")
    parser.add_argument("--team-members", default=env("FAKE_GITHUB_TEAM_MEMBERS", ""),
                        help="ORG/TEAM:LOGIN, comma-separated (same syntax as --org-members)")
    parser.add_argument("--client-id", default=env("FAKE_GITHUB_CLIENT_ID", ""))
    parser.add_argument("--client-secret", default=env("FAKE_GITHUB_CLIENT_SECRET", ""))
    parser.add_argument("--callback-url", default=env("FAKE_GITHUB_CALLBACK_URL", ""),
                        help="the OAuth app's registered callback URL (optional; then redirect_uri must match it)")
    args = parser.parse_args(argv)
    if not _split(args.users):
        parser.error("--users (or FAKE_GITHUB_USERS) is required")
    try:
        server = make_server(args.users, args.org_members, args.team_members, args.client_id,
                             args.client_secret, args.host, args.port, args.callback_url or None)
    except ValueError as error:
        parser.error(str(error))
    fake = server.fake
    memberships = [f"{o['login']}:{m}" for o in fake.orgs.values() for m in sorted(o["members"])]
    memberships += [f"{fake.orgs[k[0]]['login']}/{t['slug']}:{m}"
                    for k, t in fake.teams.items() for m in sorted(t["members"])]
    sys.stderr.write(
        f"fake-github listening on {args.host}:{server.server_address[1]} "
        f"users={','.join(u['login'] for u in fake.users.values())} "
        f"memberships={','.join(memberships) or '-'}\n"
    )
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
