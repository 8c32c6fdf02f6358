"""Validate .env, the userlist and the certificates before anything starts.

    python3 scripts/check.py nginx-container|host-nginx [self-signed|provided|letsencrypt]

Prints one line per problem, naming what to set and where; exits 1 if any.
Never prints a secret's value.  Stdlib only.
"""

import os
import re
import stat
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hub"))
sys.path.insert(0, str(ROOT / "scripts"))
from env_secrets import parse_env  # noqa: E402
from environments import (  # noqa: E402
    SettingError,
    is_host_path,
    parse_gpus,
    parse_group_folders,
    parse_images,
    parse_shared_data,
    parse_sizes,
)
from ldap_login import settings_problems as ldap_settings_problems  # noqa: E402
from openid_connect import OidcSettingError, check_issuer  # noqa: E402
from userlist import UserlistError, read_userlist  # noqa: E402

PLACEHOLDER = "CHANGE_ME"
REQUIRED = ["PUBLIC_HOSTNAME", "DOCKER_NETWORK", "DATA_VOLUME", "JUPYTERHUB_IMAGE", "NOTEBOOK_IMAGE", "DATABASE_URL"]
POSTGRES_REQUIRED = ["POSTGRES_PASSWORD", "DB_VOLUME", "POSTGRES_IMAGE"]


def callback_url(values):
    hostname = values.get("PUBLIC_HOSTNAME", "<hostname>")
    port = values.get("HTTPS_PORT", "443")
    return f"https://{hostname}{'' if port == '443' else ':' + port}/hub/oauth_callback"


def github_problems(values):
    callback = callback_url(values)
    missing = [key for key in ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET") if values.get(key, "") in ("", PLACEHOLDER)]
    if not missing:
        return []
    return [
        f"{' and '.join(missing)} not set in .env. Create a GitHub OAuth app at "
        "https://github.com/settings/developers (OAuth Apps -> New OAuth App) with "
        f"Authorization callback URL {callback}, then copy its Client ID and a new "
        "client secret into GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET in .env."
    ]


def oidc_problems(values):
    """OpenID Connect settings, one line each; the provider itself is asked only when the hub starts."""
    problems = []
    try:
        check_issuer(values.get("OIDC_ISSUER", ""))
    except OidcSettingError as error:
        problems.append(str(error))
    missing = [key for key in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET") if values.get(key, "") in ("", PLACEHOLDER)]
    if missing:
        problems.append(
            f"{' and '.join(missing)} not set in .env. Register a confidential OpenID Connect client at your provider "
            f"with redirect URI {callback_url(values)}, then copy its client ID and secret into OIDC_CLIENT_ID and "
            "OIDC_CLIENT_SECRET in .env (README, \"OpenID Connect\")."
        )
    if not values.get("OIDC_USERNAME_CLAIM", "preferred_username"):
        problems.append("OIDC_USERNAME_CLAIM is empty in .env: name the claim that holds the user name, e.g. preferred_username")
    if not values.get("OIDC_GROUPS_CLAIM", "groups"):
        problems += [f"{key} is set in .env but OIDC_GROUPS_CLAIM is empty: name the claim that lists the groups, e.g. groups"
                     for key in ("OIDC_ALLOWED_GROUPS", "OIDC_ADMIN_GROUPS") if values.get(key)]
    return problems


def ldap_problems(values):
    """LDAP_* settings; `make check` then tries the server from the hub (hub/ldap_login.py reach)."""
    problems = ldap_settings_problems(values)
    ca_cert = values.get("LDAP_CA_CERT", "")
    if ca_cert and not (ROOT / ca_cert).is_file():
        problems.append(f"LDAP_CA_CERT={ca_cert} in .env: no such file (the LDAP server's CA certificate, PEM)")
    return problems


NATIVE_NUMBERS = {"NATIVE_MINIMUM_PASSWORD_LENGTH": 1, "NATIVE_ALLOWED_FAILED_LOGINS": 0, "NATIVE_LOCKOUT_SECONDS": 0}
NATIVE_FLAGS = ("NATIVE_ENABLE_SIGNUP", "NATIVE_OPEN_SIGNUP", "NATIVE_CHECK_COMMON_PASSWORD")
# Spawning and culling: whole numbers, each at least this (the hub's int() would stop with a traceback).
SPAWN_NUMBERS = {"SPAWN_TIMEOUT": 1, "SPAWN_HTTP_TIMEOUT": 1, "SPAWN_QUEUE_WIDTH": 0, "DOCKER_API_THREADS": 1,
                 "SPAWN_READY_POLL_MS": 10, "CONCURRENT_SPAWN_LIMIT": 0, "CULL_IDLE_TIMEOUT": 1, "CULL_EVERY": 1}


def number_problems(values, minimums):
    """One line for each setting in `minimums` that is set but not a whole number of at least its minimum."""
    return [f"{key}={values[key]} in .env: use a whole number of at least {least}"
            for key, least in minimums.items()
            if key in values and not (values[key].isdigit() and int(values[key]) >= least)]


def native_problems(values):
    """NATIVE_* settings: whole numbers and true/false."""
    problems = number_problems(values, NATIVE_NUMBERS)
    problems += [f"{key}={values[key]} in .env: use true or false"
                 for key in NATIVE_FLAGS if key in values and values[key].lower() not in ("true", "false")]
    return problems


def env_problems(env_path, reverse_proxy):
    if not env_path.exists():
        return [".env is missing: run `make secrets` to create it from .env.example"], {}
    problems = []
    mode = stat.S_IMODE(env_path.stat().st_mode)
    if mode & 0o077:
        problems.append(f".env is readable by others (mode {mode:o}); run `chmod 600 .env`")
    values = parse_env(env_path.read_text(encoding="utf-8"))
    problems += [f"{key} is empty in .env" for key in REQUIRED if not values.get(key)]
    problems += number_problems(values, SPAWN_NUMBERS)
    if values.get("DATABASE_URL", "").startswith("postgresql"):
        problems += [f"{key} is empty in .env" + (": run `make secrets`" if key == "POSTGRES_PASSWORD" else "")
                     for key in POSTGRES_REQUIRED if not values.get(key)]
    if reverse_proxy == "nginx-container" and not values.get("NGINX_IMAGE"):
        problems.append("NGINX_IMAGE is empty in .env")
    if not re.fullmatch(r"[0-9a-f]{64}", values.get("CONFIGPROXY_AUTH_TOKEN", "")):
        problems.append("CONFIGPROXY_AUTH_TOKEN is not a generated token: run `make secrets`")
    if not re.fullmatch(r"[0-9a-f]{64}", values.get("STATUS_API_TOKEN", "")):
        problems.append("STATUS_API_TOKEN is not a generated token: run `make secrets`")
    authenticator = values.get("JUPYTERHUB_AUTHENTICATOR", "github")
    if authenticator == "github":
        problems += github_problems(values)
    elif authenticator == "oidc":
        problems += oidc_problems(values)
    elif authenticator == "local-trial":
        if len(values.get("TRIAL_PASSWORD", "")) < 16:
            problems.append("TRIAL_PASSWORD is empty or shorter than 16 characters: run `make secrets`")
        if len(values.get("TRIAL_ADMIN_PASSWORD", "")) < 32:
            problems.append("TRIAL_ADMIN_PASSWORD is empty or shorter than 32 characters: run `make secrets`")
    elif authenticator == "ldap":
        problems += ldap_problems(values)
    elif authenticator == "native":
        problems += native_problems(values)
    else:
        problems.append(f"JUPYTERHUB_AUTHENTICATOR={authenticator!r} in .env; use github, oidc, local-trial, ldap or native")
    return problems, values


def environment_problems(values):
    """Image and size choices, shared folders and GPUs: one line per bad setting."""
    problems = []
    parsers = {
        "NOTEBOOK_IMAGES": parse_images, "NOTEBOOK_SIZES": parse_sizes, "SHARED_DATA": parse_shared_data,
        "GROUP_FOLDERS": parse_group_folders, "USER_GPUS": parse_gpus,
    }
    for name, parse in parsers.items():
        try:
            parse(values.get(name, ""))
        except SettingError as error:
            problems.append(str(error))
    if (ROOT / "docker-proxy").is_dir() and not problems:
        # The socket proxy (docker-proxy/haproxy.cfg) refuses containers with host-path binds.
        sources = [parse_shared_data(values.get("SHARED_DATA", ""))]
        sources += parse_group_folders(values.get("GROUP_FOLDERS", "")).values()
        problems += [
            f"{source} in .env is a host folder, which the Docker socket proxy refuses to mount; use a Docker volume name"
            for source in sources if source and is_host_path(source)
        ]
    return problems


def userlist_problems(path, values):
    try:
        users = read_userlist(path)
    except UserlistError as error:
        return [str(error)], []
    notes = []
    oidc = values.get("JUPYTERHUB_AUTHENTICATOR") == "oidc"
    oidc_groups = oidc and values.get("OIDC_GROUPS_CLAIM", "groups")
    # Organizations, OIDC or LDAP groups and NativeAuthenticator's sign-up admit users the userlist does not name.
    others_admitted = (
        values.get("GITHUB_ALLOWED_ORGANIZATIONS")
        or (oidc_groups and (values.get("OIDC_ALLOWED_GROUPS") or values.get("OIDC_ADMIN_GROUPS")))
        or values.get("JUPYTERHUB_AUTHENTICATOR") == "native"
        or (values.get("JUPYTERHUB_AUTHENTICATOR") == "ldap" and (values.get("LDAP_ALLOWED_GROUPS") or values.get("LDAP_ADMIN_GROUPS")))
    )
    if not users.allowed and not others_admitted:
        notes.append(f"note: {path.name} lists no users, so nobody can log in yet")
    if users.groups and oidc_groups:
        notes.append(f"note: the @group words in {path.name} are not used: with OIDC_GROUPS_CLAIM, "
                     "JupyterHub groups come from the provider at every login")
    return [], notes


def letsencrypt_problems(values):
    problems = []
    if "@" not in values.get("LETSENCRYPT_EMAIL", ""):
        problems.append("LETSENCRYPT_EMAIL in .env is not an email address; Let's Encrypt sends expiry notices there")
    if not values.get("ACME_DIRECTORY_URL", "").startswith("https://"):
        problems.append("ACME_DIRECTORY_URL in .env must be an https:// ACME directory, "
                        "e.g. https://acme-v02.api.letsencrypt.org/directory")
    return problems


def link_problem(cert_dir, name):
    """nginx's container sees TLS_CERT_DIR and, for certbot's layout, ../../archive only."""
    path = cert_dir / name
    if not path.is_symlink():
        return None
    target = os.readlink(path)
    if target.startswith("../../archive/") and not Path(os.path.normpath(cert_dir / target)).is_symlink():
        return None
    return (f"{path} links to {target}, which nginx's container cannot see: point TLS_CERT_DIR at a folder "
            "holding the files themselves, or at certbot's /etc/letsencrypt/live/<host>")


def cert_problems(values, reverse_proxy, tls_mode="self-signed"):
    if reverse_proxy != "nginx-container":
        return []
    if tls_mode == "letsencrypt":
        return letsencrypt_problems(values)
    cert_dir = ROOT / values.get("TLS_CERT_DIR", "./nginx/certs")
    missing = [name for name in ("fullchain.pem", "privkey.pem") if not (cert_dir / name).is_file()]
    if missing:
        return [f"{', '.join(missing)} missing in {cert_dir}: run `make certs` (self-signed) or put your certificate there"]
    return [problem for problem in (link_problem(cert_dir, name) for name in ("fullchain.pem", "privkey.pem")) if problem]


def main(argv):
    reverse_proxy = argv[1] if len(argv) > 1 else "nginx-container"
    tls_mode = argv[2] if len(argv) > 2 else "self-signed"
    problems, values = env_problems(ROOT / ".env", reverse_proxy)
    user_errors, notes = userlist_problems(ROOT / "userlist", values)
    problems += user_errors
    if values:
        problems += environment_problems(values)
        problems += cert_problems(values, reverse_proxy, tls_mode)
    for note in notes:
        print(note)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("check: .env, userlist and certificates look right")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
