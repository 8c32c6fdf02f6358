"""OpenID Connect login settings: the issuer, its discovery document, group lists.

The hub config (JUPYTERHUB_AUTHENTICATOR=oidc) reads the provider's endpoints
from `<issuer>/.well-known/openid-configuration` at start; `make check`
(scripts/check.py) validates the same settings without contacting anyone.

Plain Python (no third-party imports): the hub config and `make check` both use it.
"""

import json
import re
import ssl
import urllib.error
import urllib.request

DISCOVERY_PATH = "/.well-known/openid-configuration"
# https://host[:port][/path]: no user info, query or fragment (the issuer is an identifier
# the provider repeats verbatim in its discovery document and tokens).
ISSUER_URL = re.compile(r"^https://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/-]*)?$")
# The private CA that signed the provider's HTTPS certificate, if any (hub/oidc-ca/ in this repo).
CA_FILE = "/srv/jupyterhub/oidc-ca/ca.pem"


class OidcSettingError(ValueError):
    """An OpenID Connect setting that cannot work; the message names the setting."""


def check_issuer(issuer):
    """The issuer (or its discovery URL) if it is an https URL, else OidcSettingError."""
    if not issuer:
        raise OidcSettingError("OIDC_ISSUER is empty in .env: set the provider's issuer URL, "
                               "e.g. https://keycloak.example.org/realms/<realm> or https://gitlab.com")
    if not ISSUER_URL.match(issuer):
        raise OidcSettingError(f"OIDC_ISSUER={issuer!r} in .env is not an https:// URL without query or fragment, "
                               "e.g. https://keycloak.example.org/realms/<realm>")
    return issuer


def discovery_url(issuer):
    """Where the provider publishes its endpoints; OIDC_ISSUER may also be that URL itself."""
    issuer = check_issuer(issuer)
    if issuer.endswith(DISCOVERY_PATH):
        return issuer
    return issuer.rstrip("/") + DISCOVERY_PATH


def split_groups(text):
    """Comma-separated group names, spaces around them dropped (names may contain spaces)."""
    return {name.strip() for name in text.split(",") if name.strip()}


def fetch_discovery(issuer, cafile=None, timeout=10):
    """The provider's discovery document (dict); OidcSettingError with one line when it cannot be had."""
    url = discovery_url(issuer)
    context = ssl.create_default_context(cafile=cafile)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            document = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise OidcSettingError(f"cannot read the OpenID Connect discovery document {url}: {reason}") from None
    return document


def endpoints(document, issuer):
    """(authorize, token, userinfo) URLs from a discovery document, checked as OIDC Discovery asks:
    the document names the same issuer."""
    expected = issuer.removesuffix(DISCOVERY_PATH)
    if str(document.get("issuer", "")).rstrip("/") != expected.rstrip("/"):
        raise OidcSettingError(f"the discovery document names issuer {document.get('issuer')!r}, not {expected!r}: "
                               "set OIDC_ISSUER to exactly the provider's issuer")
    names = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
    missing = [name for name in names if not document.get(name)]
    if missing:
        raise OidcSettingError(f"the discovery document of {expected} has no {', '.join(missing)}")
    return tuple(document[name] for name in names)
