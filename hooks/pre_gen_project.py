"""Validate the answers before cookiecutter renders any file.

Every free-text answer must be safe wherever it lands (Python, YAML, nginx,
Makefile, shell, .env).  A bad answer prints one line naming the field, the
value and what is accepted, and exits 1: cookiecutter then removes the
half-made project.  Valid Python before rendering; the tests import it.
"""

import ipaddress
import json
import re
import sys

ANSWERS_JSON = r"""
{{ cookiecutter | tojson }}
"""
# The questions as cookiecutter.json asks them (choice lists, boolean defaults):
# the one place choices are defined.
QUESTIONS_JSON = r"""
{{ _cookiecutter | default({}) | tojson }}
"""

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .,'()&+:_-]{0,79}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
HOST_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
USERNAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,38}$")
GITHUB_ORG = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,38}(?::[a-z0-9][a-z0-9_-]{0,99})?$")
OAUTH_CREDENTIAL = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
# OpenID Connect client ids and secrets: also ~ (Entra ID secrets), + / = (base64 secrets);
# nothing a shell, .env or YAML file would read differently.
OIDC_CREDENTIAL = re.compile(r"^[A-Za-z0-9._~+/=-]{1,300}$")
# https://host[:port][/path], as hub/openid_connect.py accepts it.
ISSUER_URL = re.compile(r"^https://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/-]*)?$")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$")
MEMORY = re.compile(r"^[1-9][0-9]{0,5}(?:\.[0-9]{1,3})?[KMGT]$")
# local@domain.tld: the characters addresses commonly use, nothing a shell, .env or
# YAML file would read differently; the domain a DNS name with a letter-led last label.
EMAIL = re.compile(r"^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
                   r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$")
CPUS = re.compile(r"^(?:[0-9]{1,4})(?:\.[0-9]{1,3})?$")
# Docker image reference (distribution/reference grammar), tag or digest required.
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]{1,5})?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
_TAG = r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*))?"
_DIGEST = r"(?:@(?P<digest>sha256:[0-9a-f]+))?"
IMAGE = re.compile("^(?:" + _DOMAIN + "/)?" + _PATH + _TAG + _DIGEST + "$")
# (No brace quantifiers here: cookiecutter renders this file with Jinja.)
DIGEST_LENGTH = len("sha256:") + 64
TAG_MAX_LENGTH = 128


class AnswerError(ValueError):
    """An answer that cannot be used; the message names field, value and rule."""

    def __init__(self, field, value, rule):
        shown = value if len(value) <= 60 else value[:57] + "..."
        super().__init__(f"{field} = {shown!r}: {rule}")


def split_names(text):
    """Split a comma- or whitespace-separated answer into non-empty words."""
    return [word for word in re.split(r"[\s,]+", text) if word]


def check_pattern(field, value, pattern, rule):
    if not pattern.match(value):
        raise AnswerError(field, value, rule)


def check_hostname(value):
    rule = "a DNS name in lowercase letters, digits, hyphens and dots, e.g. hub.example.org"
    if not value or len(value) > 253 or not value.isascii():
        raise AnswerError("hostname", value, rule)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        raise AnswerError("hostname", value, "a DNS name, not an IP address (certificates and OAuth need a name)")
    labels = value.split(".")
    if not all(HOST_LABEL.match(label) for label in labels) or not labels[-1][0].isalpha():
        raise AnswerError("hostname", value, rule)


def check_port(field, value):
    if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 65535:
        raise AnswerError(field, value, "a port number from 1 to 65535")


def check_users(field, value):
    for name in split_names(value):
        if not USERNAME.match(name.lower()):
            raise AnswerError(
                field, name,
                "user names are letters, digits and single inner hyphens, at most 39 characters "
                "(GitHub's login rules), separated by commas or spaces",
            )


def check_organizations(value):
    for org in [word.strip() for word in value.split(",") if word.strip()]:
        if not GITHUB_ORG.match(org.lower()):
            raise AnswerError(
                "github_allowed_organizations", org,
                "GitHub organization names (optionally org:team-slug), comma-separated",
            )


def check_oidc(answers, text):
    """Issuer and client credentials may stay empty (set in .env later); given ones must work."""
    issuer = text["oidc_issuer"]
    if issuer and not ISSUER_URL.match(issuer):
        rule = "the provider's issuer as an https:// URL without query or fragment, e.g. https://keycloak.example.org/realms/myrealm"
        if issuer.startswith("http://"):
            rule = "must be https:// (the hub sends the client secret there); " + rule
        raise AnswerError("oidc_issuer", issuer, rule)
    for field in ("oidc_client_id", "oidc_client_secret"):
        if text[field]:
            check_pattern(field, text[field], OIDC_CREDENTIAL,
                          "as the provider shows it: letters, digits and . _ ~ + / = - (or leave empty and set it in .env later)")


def check_image(value, flavor):
    """Empty means the pinned image of the flavor (kept empty in the answers, so a template
    update with newer pins brings the newer image); custom needs a reference."""
    if not value:
        if flavor == "custom":
            raise AnswerError("notebook_image", value, "a notebook image reference is required when notebook_image_flavor is custom")
        return
    match = IMAGE.match(value) if len(value) <= 255 else None
    if not match:
        raise AnswerError("notebook_image", value, "an image reference such as registry.example.org/team/image:2026-01-05")
    tag, digest = match.group("tag"), match.group("digest")
    if (tag and len(tag) > TAG_MAX_LENGTH) or (digest and len(digest) != DIGEST_LENGTH):
        raise AnswerError("notebook_image", value, "a tag of at most 128 characters or a sha256 digest of 64 hex digits")
    if not digest and tag in (None, "latest"):
        raise AnswerError("notebook_image", value, "pin a version tag or @sha256 digest (an unpinned or :latest image changes under you)")


def check_letsencrypt(answers, email):
    """The email certbot registers; letsencrypt also needs nginx in this stack on port 80."""
    if answers["tls_mode"] != "letsencrypt" and not email:
        return
    rule = "an email address such as admin@example.org (Let's Encrypt sends expiry notices there)"
    if not email and answers["tls_mode"] == "letsencrypt":
        raise AnswerError("letsencrypt_email", email, "required with tls_mode letsencrypt: " + rule)
    if len(email) > 254 or not EMAIL.match(email):
        raise AnswerError("letsencrypt_email", email, rule)
    if answers["tls_mode"] == "letsencrypt" and answers["reverse_proxy"] != "nginx-container":
        raise AnswerError(
            "tls_mode", "letsencrypt",
            "needs reverse_proxy nginx-container (with the host's nginx, run certbot on the host and use tls_mode provided)",
        )


# Options the Swarm target does not offer yet: (field, refused value, why), checked in order.
SWARM_UNSUPPORTED = [
    ("reverse_proxy", "host-nginx", "needs reverse_proxy nginx-container (Swarm publishes nginx's ports on the manager)"),
    ("docker_socket_proxy", True, "needs docker_socket_proxy no (the proxy's filter knows container calls, not Swarm services)"),
    ("tls_mode", "letsencrypt", "needs tls_mode self-signed or provided (certbot is not part of the Swarm stack yet)"),
    ("database", "postgresql", "needs database sqlite (the hub's data volume lives on the manager)"),
]


def check_swarm(answers):
    """deployment_target swarm supports a subset of the options; name the first one it does not."""
    if answers.get("deployment_target") != "swarm":
        return
    for field, value, rule in SWARM_UNSUPPORTED:
        if answers.get(field) == value:
            raise AnswerError("deployment_target", "swarm", rule)


def check_choices(answers, questions):
    """Choice answers must be one of cookiecutter.json's options, boolean answers yes or no."""
    for field, options in questions.items():
        if isinstance(options, list) and answers.get(field) not in options:
            raise AnswerError(field, str(answers.get(field)), "one of " + ", ".join(options))
        if isinstance(options, bool) and not isinstance(answers.get(field), bool):
            raise AnswerError(field, str(answers.get(field)), "yes or no")


def validate(answers, questions):
    """Raise AnswerError for the first unusable answer; return None when all are fine."""
    text = {key: value for key, value in answers.items() if isinstance(value, str) and not key.startswith("_")}
    check_choices(answers, questions)
    for field, value in text.items():
        if CONTROL_CHARACTERS.search(value):
            raise AnswerError(field, value, "no line breaks, tabs or other control characters")
    check_pattern("project_name", text["project_name"], PROJECT_NAME,
                  "1-80 characters: letters, digits, spaces and . , ' ( ) & + : _ -")
    check_pattern("project_slug", text["project_slug"], SLUG,
                  "lowercase letters, digits and inner hyphens, at most 63 characters")
    check_hostname(text["hostname"])
    for field in ("http_port", "https_port", "hub_host_port"):
        check_port(field, text[field])
    if text["http_port"] == text["https_port"]:
        raise AnswerError("https_port", text["https_port"], "must differ from http_port")
    for field in ("github_client_id", "github_client_secret"):
        if text[field]:
            check_pattern(field, text[field], OAUTH_CREDENTIAL,
                          "as GitHub shows it: letters, digits, '.', '_' and '-' (or leave empty and set it in .env later)")
    check_organizations(text["github_allowed_organizations"])
    check_oidc(answers, text)
    check_users("admin_users", text["admin_users"])
    check_users("allowed_users", text["allowed_users"])
    check_image(text["notebook_image"], answers["notebook_image_flavor"])
    check_pattern("mem_limit", text["mem_limit"], MEMORY, "a size with unit K, M, G or T, e.g. 2G or 512M")
    if not CPUS.match(text["cpu_limit"]) or float(text["cpu_limit"]) <= 0:
        raise AnswerError("cpu_limit", text["cpu_limit"], "a positive number of cores, e.g. 1 or 0.5")
    check_letsencrypt(answers, text["letsencrypt_email"])
    check_swarm(answers)
    for field in ("docker_network", "data_volume"):
        check_pattern(field, text[field], DOCKER_NAME,
                      "2-64 characters: letters, digits, '_', '.' and '-', starting with a letter or digit")


def main():
    answers = json.loads(ANSWERS_JSON)
    try:
        validate(answers, json.loads(QUESTIONS_JSON))
    except AnswerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
