"""Load a generated jupyterhub_config.py with the real JupyterHub config machinery.

    python hub_config_probe.py CONFIG_FILE [USERNAME [USER_OPTIONS_JSON]]   (environment as docker-compose.yml sets it)

Instantiates the configured authenticator and spawner classes from the loaded
config and prints, as JSON, the key trait values and every warning logged or
raised while doing so (unrecognized or deprecated options show up there).
With USER_OPTIONS_JSON, the spawner's own apply_user_options hook runs on those
options first (as the hub does before a start); its HTTP error, if any, is
reported as `user_options_error`.
Runs in its own process because the config reads os.environ and sys.path.
"""

import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import sys
import types
import warnings
from pathlib import Path

from jupyterhub.app import JupyterHub


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def apply_user_options(spawner, user_options):
    """The hub's own step before Spawner.start; returns the refusal {status, message} or None."""
    from tornado import web

    spawner.user_options = user_options
    try:
        asyncio.run(spawner._run_apply_user_options(user_options))
    except web.HTTPError as error:
        return {"status": error.status_code, "message": error.log_message}
    return None


# Python warnings raised from these packages (or the config file) are about the configuration;
# others (a library's own DeprecationWarning, e.g. pyasn1's through ldap3) are not.  Spawners'
# and authenticators' deprecated options are logged, and every logged warning is kept.
CONFIG_PACKAGES = ("jupyterhub", "traitlets")


def about_the_config(warning, config_path):
    parts = set(Path(warning.filename).parts)
    return warning.filename == config_path or any(package in parts for package in CONFIG_PACKAGES)


def import_quietly(*modules):
    """Import third-party modules whose import-time deprecation noise is not about our config
    (ldap3, nativeauthenticator: JupyterHub imports them while resolving authenticator names)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)


def main(path, username, user_options=None):
    import_quietly("ldap3", "ldapauthenticator", "nativeauthenticator")
    collector = Collect()
    logging.getLogger().addHandler(collector)
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        app = JupyterHub()
        app.log.addHandler(collector)
        app.load_config_file(path)
        app.update_config(app.config)  # re-apply so traitlets checks every section
        # NativeAuthenticator creates its table in the hub database, which the probe has not got.
        no_table = {"add_new_table": False} if "add_new_table" in inspect.signature(app.authenticator_class).parameters else {}
        authenticator = app.authenticator_class(parent=app, config=app.config, **no_table)
        authenticator.log.addHandler(collector)
        spawner_class = app.spawner_class
        user = types.SimpleNamespace(name=username, id=1, url=f"/user/{username}/", escaped_name=username)
        spawner = spawner_class(user=user, config=app.config)
        spawner.log.addHandler(collector)
        user_options_error = apply_user_options(spawner, user_options) if user_options is not None else None
        # Accessing traits triggers deprecation observers and validation.
        spawner_values = {
            "class": f"{spawner_class.__module__}.{spawner_class.__name__}",
            "image": spawner.image,
            "network_name": spawner.network_name,
            "use_internal_ip": spawner.use_internal_ip,
            "volumes": spawner.volumes,
            "notebook_dir": spawner.notebook_dir,
            "mem_limit": spawner.mem_limit,
            "cpu_limit": spawner.cpu_limit,
            "remove": spawner.remove,
            "start_timeout": spawner.start_timeout,
            "queue_width": getattr(spawner, "queue_width", None),
            "docker_api_threads": getattr(spawner, "docker_api_threads", None),
            "ready_poll_ms": getattr(spawner, "ready_poll_ms", None),
            "client_kwargs": spawner.client_kwargs,
            "http_timeout": spawner.http_timeout,
            "extra_host_config": spawner.extra_host_config,
            "cmd": spawner.cmd,
            "volume_binds": spawner.volume_binds,
            "container_name": spawner.object_name,
            "allowed_images": spawner.allowed_images,
            "options_form": spawner.options_form,
            "group_overrides": spawner.group_overrides,
            "user_options_error": user_options_error,
        }
    result = {
        "authenticator_class": f"{type(authenticator).__module__}.{type(authenticator).__name__}",
        "allowed_users": sorted(authenticator.allowed_users),
        "admin_users": sorted(authenticator.admin_users),
        "allow_all": authenticator.allow_all,
        "allow_existing_users": authenticator.allow_existing_users,
        "db_url": app.db_url,
        "cookie_secret_file": app.cookie_secret_file,
        "cleanup_servers": app.cleanup_servers,
        "hub_connect_ip": app.hub_connect_ip,
        "bind_url": app.bind_url,
        "allow_named_servers": app.allow_named_servers,
        "concurrent_spawn_limit": app.concurrent_spawn_limit,
        "load_roles": app.load_roles,
        "load_groups": app.load_groups,
        "services": [{key: value for key, value in service.items() if key != "api_token"} for service in app.services],
        "spawner": spawner_values,
        "warnings": collector.messages + [str(warning.message) for warning in caught if about_the_config(warning, path)],
    }
    for name in ("client_id", "oauth_callback_url", "github_url", "allowed_organizations", "scope", "user_password", "admin_password",
                 "authorize_url", "token_url", "userdata_url", "username_claim", "login_service", "manage_groups",
                 "allowed_groups", "admin_groups", "http_request_kwargs",
                 # LDAP and local accounts
                 "server_address", "server_port", "tls_strategy", "tls_kwargs", "bind_dn_template", "lookup_dn",
                 "user_search_base", "user_attribute", "lookup_dn_search_user",
                 "enable_signup", "open_signup", "minimum_password_length", "check_common_password",
                 "allowed_failed_logins", "seconds_before_next_try"):
        if authenticator.has_trait(name):
            value = getattr(authenticator, name)
            result[name] = sorted(value) if isinstance(value, (set, frozenset)) else value
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "alice",
         json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
