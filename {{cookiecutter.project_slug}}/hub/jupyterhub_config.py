"""JupyterHub configuration: DockerSpawner behind nginx, users from `userlist`.

Site values come from environment variables set in `.env` and passed in by
docker-compose.yml; this file holds no secrets and needs no edits for a new
site.  Each section is one idea: change or delete it to fit your site.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import environments  # noqa: E402  (needs the path above)
from spawn_queue import QueuedDockerSpawner  # noqa: E402
from userlist import read_userlist  # noqa: E402

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)


def env(name, default=None):
    """A setting from the environment, or from the file <NAME>_FILE names (a Docker secret
    under /run/secrets on Swarm); a missing required one stops the hub."""
    if os.environ.get(name + "_FILE"):
        with open(os.environ[name + "_FILE"], encoding="utf-8") as secret:
            return secret.read().strip()
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"jupyterhub_config.py: environment variable {name} is not set (see .env)")
    return value


def env_flag(name, default):
    return env(name, default).strip().lower() in {"1", "true", "yes", "on"}


def env_parsed(parse, name):
    """A setting parsed by hub/environments.py; a bad value stops the hub with one line."""
    try:
        return parse(env(name, ""))
    except environments.SettingError as error:
        sys.exit(f"jupyterhub_config.py: {error}")


def internal(name, default):
    """A value fixed by this repo's own files (the hub image, docker-compose.yml), not a
    site setting: it is not in .env, and only the tests override it."""
    return os.environ.get(name, default)


# Every env() setting is listed in .env.example and passed by docker-compose.yml;
# `make check` (scripts/check_settings.py) fails when one is not.
DATA_DIR = internal("JUPYTERHUB_DATA_DIR", "/data")
USERLIST_PATH = internal("JUPYTERHUB_USERLIST", "/srv/jupyterhub/userlist")
PUBLIC_HOSTNAME = env("PUBLIC_HOSTNAME")
HTTPS_PORT = env("PUBLIC_HTTPS_PORT", "443")
PUBLIC_URL = f"https://{PUBLIC_HOSTNAME}" + ("" if HTTPS_PORT == "443" else f":{HTTPS_PORT}")

# --- The hub and its proxy --------------------------------------------------
# The proxy (configurable-http-proxy, started by the hub) serves :8000 to nginx.
# The hub API listens on the Docker network so user containers can reach it at
# the `jupyterhub` alias.  CONFIGPROXY_AUTH_TOKEN comes from .env so hub and
# proxy agree across restarts.
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_port = 8081
# The hub's network alias in docker-compose.yml.
c.JupyterHub.hub_connect_ip = internal("HUB_CONNECT_HOST", "jupyterhub")

# --- Persistent state on the data volume ------------------------------------
# SQLite on the data volume, or the PostgreSQL service (DATABASE_URL in .env).
c.JupyterHub.db_url = env("DATABASE_URL", f"sqlite:///{DATA_DIR}/jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = f"{DATA_DIR}/jupyterhub_cookie_secret"
# User servers keep running while the hub restarts or upgrades.
c.JupyterHub.cleanup_servers = False

# --- Who may log in: the userlist is the single source of truth ------------
users = read_userlist(USERLIST_PATH)
c.Authenticator.allowed_users = users.allowed
# Users removed from the userlist lose access even though they stay in the database.
c.Authenticator.allow_existing_users = False

ADMINS_CAN_ACCESS_SERVERS = env_flag("ADMINS_CAN_ACCESS_SERVERS", "false")
if ADMINS_CAN_ACCESS_SERVERS:
    # JupyterHub's built-in admin role includes `access:servers`.
    c.Authenticator.admin_users = users.admins
else:
    # The built-in admin role cannot be changed, so "admins" get a role with the
    # admin panel and server control but without opening users' servers,
    # creating tokens for them, or granting themselves the admin role.
    c.Authenticator.admin_users = set()
    # OIDC_ADMIN_GROUPS (below) adds the provider's admin groups to this role.
    OPERATOR_ROLE = {
        "name": "operator",
        "description": "Admin panel without access to users' servers",
        "scopes": [
            "admin-ui",
            "admin:users",
            "admin:servers",
            "admin:groups",
            "list:services",
            "read:services",
            "read:hub",
            "read:roles",
            "read:metrics",
        ],
        "users": sorted(users.admins),
    }
    c.JupyterHub.load_roles.append(OPERATOR_ROLE)

# --- Authentication -----------------------------------------------------------
AUTHENTICATOR = env("JUPYTERHUB_AUTHENTICATOR", "github")
# True when the authenticator sets users' JupyterHub groups (then the userlist's @group words are not used).
AUTHENTICATOR_MANAGES_GROUPS = False

if AUTHENTICATOR == "github":
    c.JupyterHub.authenticator_class = "github"
    c.GitHubOAuthenticator.client_id = env("GITHUB_CLIENT_ID")
    c.GitHubOAuthenticator.client_secret = env("GITHUB_CLIENT_SECRET")
    c.GitHubOAuthenticator.oauth_callback_url = f"{PUBLIC_URL}/hub/oauth_callback"
    if env("GITHUB_URL", ""):
        # GitHub Enterprise Server (or the test suite's stand-in for github.com).
        c.GitHubOAuthenticator.github_url = env("GITHUB_URL")
    organizations = {org.strip() for org in env("GITHUB_ALLOWED_ORGANIZATIONS", "").split(",") if org.strip()}
    if organizations:
        # Membership checks need the read:org scope (and the org's approval of the app).
        c.GitHubOAuthenticator.allowed_organizations = organizations
        c.GitHubOAuthenticator.scope = ["read:org"]
elif AUTHENTICATOR == "oidc":
    # Any OpenID Connect provider (Keycloak, Authentik, GitLab, Google, Entra ID, ...):
    # its endpoints come from the issuer's discovery document, read once at start.
    import openid_connect  # noqa: E402  (hub/openid_connect.py)

    c.JupyterHub.authenticator_class = "generic-oauth"
    OIDC_ISSUER = env("OIDC_ISSUER")
    # A provider whose HTTPS certificate comes from a private CA: that CA's certificate
    # in hub/oidc-ca/ca.pem (see README, "OpenID Connect"); otherwise the public CAs.
    OIDC_CA_FILE = internal("OIDC_CA_FILE", openid_connect.CA_FILE)
    OIDC_CA_FILE = OIDC_CA_FILE if os.path.isfile(OIDC_CA_FILE) else None
    try:
        authorize_url, token_url, userinfo_url = openid_connect.endpoints(
            openid_connect.fetch_discovery(OIDC_ISSUER, OIDC_CA_FILE), OIDC_ISSUER)
    except openid_connect.OidcSettingError as error:
        sys.exit(f"jupyterhub_config.py: {error}")
    if OIDC_CA_FILE:
        c.GenericOAuthenticator.http_request_kwargs = {"ca_certs": OIDC_CA_FILE}
    c.GenericOAuthenticator.authorize_url = authorize_url
    c.GenericOAuthenticator.token_url = token_url
    c.GenericOAuthenticator.userdata_url = userinfo_url
    c.GenericOAuthenticator.client_id = env("OIDC_CLIENT_ID")
    c.GenericOAuthenticator.client_secret = env("OIDC_CLIENT_SECRET")
    c.GenericOAuthenticator.oauth_callback_url = f"{PUBLIC_URL}/hub/oauth_callback"
    c.GenericOAuthenticator.scope = env("OIDC_SCOPES", "openid profile email").split()
    c.GenericOAuthenticator.username_claim = env("OIDC_USERNAME_CLAIM", "preferred_username")
    c.GenericOAuthenticator.login_service = env("OIDC_LOGIN_SERVICE", "OpenID Connect")
    OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")
    OIDC_ALLOWED_GROUPS = openid_connect.split_groups(env("OIDC_ALLOWED_GROUPS", ""))
    OIDC_ADMIN_GROUPS = openid_connect.split_groups(env("OIDC_ADMIN_GROUPS", ""))
    if OIDC_GROUPS_CLAIM:
        # The provider's groups become the user's JupyterHub groups at every login (so
        # GROUP_FOLDERS follow them); the userlist's @group words are then not used.
        def groups_from_claim(auth_state):
            groups = auth_state["oauth_user"].get(OIDC_GROUPS_CLAIM) or []
            return [groups] if isinstance(groups, str) else groups

        c.GenericOAuthenticator.manage_groups = AUTHENTICATOR_MANAGES_GROUPS = True
        c.GenericOAuthenticator.auth_state_groups_key = groups_from_claim
        # Admin groups may log in too; the userlist still allows and makes admins by name.
        c.GenericOAuthenticator.allowed_groups = OIDC_ALLOWED_GROUPS | OIDC_ADMIN_GROUPS
        if ADMINS_CAN_ACCESS_SERVERS:
            c.GenericOAuthenticator.admin_groups = OIDC_ADMIN_GROUPS
        else:
            # Members get the operator role above, through their JupyterHub group.
            OPERATOR_ROLE["groups"] = sorted(OIDC_ADMIN_GROUPS)
    elif OIDC_ALLOWED_GROUPS or OIDC_ADMIN_GROUPS:
        sys.exit("jupyterhub_config.py: OIDC_ALLOWED_GROUPS and OIDC_ADMIN_GROUPS need OIDC_GROUPS_CLAIM (see .env)")
elif AUTHENTICATOR == "local-trial":
    # For trying the stack only: users in the userlist log in with one shared
    # password from .env, admins with a second, longer one.  Switch
    # JUPYTERHUB_AUTHENTICATOR to github for production.
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = env("TRIAL_PASSWORD")
    c.SharedPasswordAuthenticator.admin_password = env("TRIAL_ADMIN_PASSWORD")
elif AUTHENTICATOR == "ldap":
    # LDAP or Active Directory (README, "LDAP").  Users listed in userlist may log in;
    # LDAP_ALLOWED_GROUPS allows whole groups, LDAP_ADMIN_GROUPS makes admins.
    import ldap_login

    c.JupyterHub.authenticator_class = "ldapauthenticator.LDAPAuthenticator"
    try:
        LDAP_SERVER = ldap_login.parse_url(env("LDAP_URL"))
        LDAP_BIND_TEMPLATES = ldap_login.bind_templates(env("LDAP_BIND_DN_TEMPLATE", ""))
    except ldap_login.LdapSettingError as error:
        sys.exit(f"jupyterhub_config.py: {error}")
    c.LDAPAuthenticator.server_address = LDAP_SERVER.host
    c.LDAPAuthenticator.server_port = LDAP_SERVER.port
    c.LDAPAuthenticator.tls_strategy = LDAP_SERVER.tls_strategy
    # ldap3 skips certificate checks unless told; LDAP_CA_CERT (mounted by
    # docker-compose.yml) or the image's trusted CAs must vouch for the server.
    LDAP_TLS = {"validate": 2}  # ssl.CERT_REQUIRED
    if env("LDAP_CA_CERT", ""):
        LDAP_TLS["ca_certs_file"] = "/srv/jupyterhub/ldap-ca.pem"  # where docker-compose.yml mounts it
    c.LDAPAuthenticator.tls_kwargs = LDAP_TLS
    LDAP_USERNAME_ATTRIBUTE = env("LDAP_USERNAME_ATTRIBUTE", "uid")
    if LDAP_BIND_TEMPLATES:
        c.LDAPAuthenticator.bind_dn_template = LDAP_BIND_TEMPLATES
    else:
        # Find the user's DN first, as the service account (or anonymously).
        c.LDAPAuthenticator.lookup_dn = True
        c.LDAPAuthenticator.user_search_base = env("LDAP_SEARCH_BASE")
        c.LDAPAuthenticator.user_attribute = LDAP_USERNAME_ATTRIBUTE
        c.LDAPAuthenticator.lookup_dn_user_dn_attribute = LDAP_USERNAME_ATTRIBUTE
        c.LDAPAuthenticator.lookup_dn_search_user = env("LDAP_SEARCH_USER_DN", "") or None
        c.LDAPAuthenticator.lookup_dn_search_password = env("LDAP_SEARCH_PASSWORD", "") or None
    LDAP_ADMIN_GROUPS = ldap_login.split_dns(env("LDAP_ADMIN_GROUPS", ""))
    # Admin groups are searched too (their members may log in), so that the hook sees them.
    c.LDAPAuthenticator.allowed_groups = ldap_login.split_dns(env("LDAP_ALLOWED_GROUPS", "")) + LDAP_ADMIN_GROUPS
    c.LDAPAuthenticator.post_auth_hook = ldap_login.admin_login_hook(
        LDAP_ADMIN_GROUPS, users.admins, full_admin=ADMINS_CAN_ACCESS_SERVERS, operator_role="operator")
elif AUTHENTICATOR == "native":
    # Local accounts (README, "Local accounts"): people sign up at /hub/signup and an
    # admin approves them at /hub/authorize.  Users in userlist are approved when they
    # sign up; approval, not the userlist, decides who else gets in.
    from nativeauthenticator.handlers import LoginHandler as NativeLoginHandler

    class NoTimer:
        """NativeAuthenticator 1.3.0's login form times itself with the handler's statsd
        client, which JupyterHub 6 removed; this no-op stands in (drop it once upstream has)."""

        def timer(self, name):
            return self

        def start(self):
            return self

        def stop(self, send=True):
            pass

    if not hasattr(NativeLoginHandler, "statsd"):
        NativeLoginHandler.statsd = NoTimer()
    c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"
    c.Authenticator.allow_all = True
    c.NativeAuthenticator.enable_signup = env_flag("NATIVE_ENABLE_SIGNUP", "true")
    c.NativeAuthenticator.open_signup = env_flag("NATIVE_OPEN_SIGNUP", "false")
    c.NativeAuthenticator.minimum_password_length = int(env("NATIVE_MINIMUM_PASSWORD_LENGTH", "10"))
    c.NativeAuthenticator.check_common_password = env_flag("NATIVE_CHECK_COMMON_PASSWORD", "true")
    # After this many wrong passwords a name is locked for NATIVE_LOCKOUT_SECONDS (0: never).
    c.NativeAuthenticator.allowed_failed_logins = int(env("NATIVE_ALLOWED_FAILED_LOGINS", "5"))
    c.NativeAuthenticator.seconds_before_next_try = int(env("NATIVE_LOCKOUT_SECONDS", "600"))
else:
    sys.exit(f"jupyterhub_config.py: JUPYTERHUB_AUTHENTICATOR={AUTHENTICATOR!r}; use github, oidc, local-trial, ldap or native")

# --- Spawning user containers -------------------------------------------------
# DockerSpawner, with starts admitted in order a few at a time (hub/spawn_queue.py).
c.JupyterHub.spawner_class = QueuedDockerSpawner
c.QueuedDockerSpawner.queue_width = int(env("SPAWN_QUEUE_WIDTH", "0"))
# Docker API calls in flight at once (DockerSpawner alone: one at a time for all users).
c.QueuedDockerSpawner.docker_api_threads = int(env("DOCKER_API_THREADS", "4"))
c.QueuedDockerSpawner.ready_poll_ms = int(env("SPAWN_READY_POLL_MS", "500"))
c.DockerSpawner.image = env("NOTEBOOK_IMAGE")
c.DockerSpawner.network_name = env("DOCKER_NETWORK")
c.DockerSpawner.use_internal_ip = True
# Remove stopped containers; the work directory lives on in the user's volume.
c.DockerSpawner.remove = True
NOTEBOOK_DIR = env("NOTEBOOK_DIR", "/home/jovyan/work")
c.DockerSpawner.notebook_dir = NOTEBOOK_DIR
# Container and volume names are per Docker host: a second deployment on the
# same host needs its own prefixes, or it would adopt this one's containers.
c.DockerSpawner.prefix = env("USER_CONTAINER_PREFIX", "jupyter")
VOLUME_PREFIX = env("USER_VOLUME_PREFIX", "jupyterhub-user")
c.DockerSpawner.volumes = {VOLUME_PREFIX + "-{username}": NOTEBOOK_DIR}
c.DockerSpawner.mem_limit = env("MEM_LIMIT", "2G")
c.DockerSpawner.cpu_limit = float(env("CPU_LIMIT", "1"))
USER_GPUS = env_parsed(environments.parse_gpus, "USER_GPUS")
c.DockerSpawner.extra_host_config = {"security_opt": ["no-new-privileges:true"]}
if USER_GPUS:
    # GPUs through the engine's device requests (like `docker run --gpus`); the
    # host needs the NVIDIA driver and container toolkit (see README, "GPUs").
    c.DockerSpawner.extra_host_config["device_requests"] = USER_GPUS
# Generous timeouts: on a small host many users starting at once (a class at
# 9:00) share the CPU; stock 30 s timeouts drop some of them.  Time waiting in
# the spawn queue does not count.
c.Spawner.start_timeout = int(env("SPAWN_TIMEOUT", "300"))
c.Spawner.http_timeout = int(env("SPAWN_HTTP_TIMEOUT", "180"))
# Spawns pending at once, queued ones included; more are refused with HTTP 429.  The spawn
# queue is the admission control now: this only guards against a runaway client, so it is
# well above a large class (at JupyterHub's 100, the 101st student of a lecture would be refused).
c.JupyterHub.concurrent_spawn_limit = int(env("CONCURRENT_SPAWN_LIMIT", "200"))
# One server per user unless the operator opts in.
c.JupyterHub.allow_named_servers = False

# --- Docker Swarm (docker-stack.yml; hub/swarm.py) ------------------------------
# User servers become Swarm services placed on any node; storage follows them
# over NFS (NFS_SERVER) or pins each user to the node holding their volume.
# (scripts/check_settings.py reads the settings hub/swarm.py takes with env() too.)
if os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "swarm.py")):
    import swarm  # noqa: E402

    swarm.configure(c, env)

# --- Environment choice at spawn ---------------------------------------------
# NOTEBOOK_IMAGES / NOTEBOOK_SIZES offer a form with the listed choices; the
# first entry of each list is the default.  With at most one of each, users get
# NOTEBOOK_IMAGE, MEM_LIMIT and CPU_LIMIT and no form.
IMAGES = env_parsed(environments.parse_images, "NOTEBOOK_IMAGES")
SIZES = env_parsed(environments.parse_sizes, "NOTEBOOK_SIZES")
if IMAGES:
    # DockerSpawner starts only images on this list; users pick them by name.
    c.DockerSpawner.allowed_images = IMAGES
    c.DockerSpawner.image = next(iter(IMAGES.values()))
if SIZES:
    c.DockerSpawner.mem_limit, c.DockerSpawner.cpu_limit = next(iter(SIZES.values()))
c.DockerSpawner.options_form = environments.options_form(IMAGES, SIZES)
c.DockerSpawner.options_from_form = environments.options_from_form


def apply_choices(spawner, user_options):
    """Refuse (HTTP 400) an image or size not on the lists, then apply the size."""
    from tornado import web

    try:
        _, size = environments.choose(IMAGES, SIZES, user_options)
    except environments.ChoiceError as error:
        # The hub stores user_options for the next start without a choice:
        # forget the refused ones so they are not tried again.
        spawner.user_options = {}
        if spawner.orm_spawner is not None:
            spawner.orm_spawner.user_options = {}
        raise web.HTTPError(400, str(error)) from None
    # DockerSpawner itself resolves user_options["image"] through allowed_images.
    if size:
        spawner.mem_limit, spawner.cpu_limit = size


c.DockerSpawner.apply_user_options = apply_choices

# --- Shared folders -------------------------------------------------------------
# SHARED_DATA: one folder (host path or Docker volume), read-only for everyone.
# GROUP_FOLDERS: a read-write folder per JupyterHub group, for its members only;
# `@group` words in the userlist make the groups (see README, "Shared folders").
SHARED_DATA = env_parsed(environments.parse_shared_data, "SHARED_DATA")
if SHARED_DATA:
    c.DockerSpawner.volumes[SHARED_DATA] = {"bind": environments.shared_data_mount(NOTEBOOK_DIR), "mode": "ro"}
GROUP_FOLDERS = env_parsed(environments.parse_group_folders, "GROUP_FOLDERS")
c.DockerSpawner.group_overrides = environments.group_overrides(GROUP_FOLDERS, NOTEBOOK_DIR)
if users.groups and not AUTHENTICATOR_MANAGES_GROUPS:
    # Adds memberships at every start; removing one takes the admin panel too (README).
    # (JupyterHub refuses load_groups when the authenticator manages groups.)
    c.JupyterHub.load_groups = {group: {"users": sorted(members)} for group, members in sorted(users.groups.items())}

# --- Idle culling ------------------------------------------------------------
CULL_TIMEOUT = env("CULL_IDLE_TIMEOUT", "3600")
c.JupyterHub.load_roles.append(
    {
        "name": "idle-culler",
        "description": "Stop idle servers",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
)
c.JupyterHub.services.append(
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={CULL_TIMEOUT}",
            f"--cull-every={env('CULL_EVERY', '600')}",
        ],
    }
)

# --- Seeing the site (`make status`, `make metrics`, a Prometheus) ------------
# Read-only: users and their servers' start and activity times, and the hub's
# Prometheus metrics (/hub/metrics needs read:metrics).  The token is
# STATUS_API_TOKEN from .env; nginx refuses /hub/metrics, so metrics are read on
# the private network at http://jupyterhub:8081/hub/metrics.
c.JupyterHub.services.append({"name": "status", "api_token": env("STATUS_API_TOKEN")})
c.JupyterHub.load_roles.append(
    {
        "name": "status",
        "description": "Read users, their servers' age and activity, and the metrics",
        "scopes": ["list:users", "read:users:name", "read:users:activity", "read:servers", "read:metrics"],
        "services": ["status"],
    }
)

# --- The operator's smoke test (`make smoke`) -------------------------------
# Its short-lived tokens may manage only the dedicated test user; the name has
# an underscore, which no GitHub login can have.
SMOKE_USER = "smoke_test"
c.JupyterHub.services.append({"name": "smoke-test"})
c.JupyterHub.load_roles.append(
    {
        "name": "smoke-test",
        "description": "Create, start, use and delete the smoke-test user only",
        "scopes": [
            f"admin:users!user={SMOKE_USER}",
            f"servers!user={SMOKE_USER}",
            f"access:servers!user={SMOKE_USER}",
        ],
        "services": ["smoke-test"],
    }
)
