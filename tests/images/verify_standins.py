#!/usr/bin/env python3
"""Smoke tests for the stand-in images standins.py builds: each keeps the upstream
image's conventions that a generated deployment relies on (see README.md here).

    python3 tests/images/verify_standins.py [REF ...]   # default: every pinned image

From Python: ``verify_images(refs)`` returns ``{ref: summary}`` and raises
StandinError on the first image that breaks a convention.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from standins import StandinError, load_pins, pinned_refs, recipe_for
from standins import _run as run
from standins import _say as say


def _docker_run(ref: str, *args: str, timeout: float = 120, extra=()) -> str:
    result = run(["docker", "run", "--rm", *extra, ref, *args], timeout=timeout)
    return result.stdout


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise StandinError(message)


@contextlib.contextmanager
def _container(ref: str, *args: str, extra=()):
    name = f"standin-verify-{uuid.uuid4().hex[:10]}"
    run(["docker", "run", "-d", "--name", name, *extra, ref, *args])
    try:
        yield name
    finally:
        run(["docker", "rm", "-f", name], check=False)


def _wait_exec(name: str, cmd: list, deadline_s: float = 60) -> str:
    deadline = time.monotonic() + deadline_s
    while True:
        result = run(["docker", "exec", name, *cmd], check=False, timeout=30)
        if result.returncode == 0:
            return result.stdout
        if time.monotonic() > deadline:
            logs = run(["docker", "logs", "--tail", "30", name], check=False).stdout
            raise StandinError(f"{' '.join(cmd)} kept failing in {name}:\n{result.stdout}\n{logs}")
        time.sleep(1)


def _verify_hub(ref: str, pins: dict) -> str:
    _, args = recipe_for(ref, pins)
    out = _docker_run(ref, "sh", "-c",
                      "jupyterhub --version && configurable-http-proxy --version"
                      " && python3 -c 'import urllib.request, sqlite3' && python3 -m pip --version"
                      " && pwd")
    lines = out.split()
    _expect(args["JUPYTERHUB_VERSION"] in lines[:1],
            f"{ref}: jupyterhub --version printed {out!r}, want {args['JUPYTERHUB_VERSION']}")
    _expect("/srv/jupyterhub" in lines, f"{ref}: WORKDIR is not /srv/jupyterhub: {out!r}")
    return f"jupyterhub {lines[0]}, configurable-http-proxy {lines[1]}"


_KERNEL_CHECK = textwrap.dedent("""
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    out = []
    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
    kc.execute_interactive("print(6*7)", output_hook=hook, timeout=60)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    print("KERNEL-OUT:" + "".join(out).strip())
""")

_SERVER_CHECK = textwrap.dedent("""
    import json, urllib.request
    base = "http://127.0.0.1:8888"
    headers = {"Authorization": "token standin-verify"}
    def call(method, path):
        req = urllib.request.Request(base + path, method=method, headers=headers, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    status, body = call("GET", "/api/status")
    status, body = call("POST", "/api/terminals")
    name = json.loads(body)["name"]
    call("DELETE", "/api/terminals/" + name)
    status, body = call("GET", "/lab")
    print("SERVER-OK terminal", name, "lab", status)
""")


def _verify_notebook(ref: str, pins: dict) -> str:
    out = _docker_run(ref, "sh", "-c",
                      "id && jupyterhub-singleuser --version && pwd && test -d work && test -O work")
    _expect("uid=1000(jovyan) gid=100(users)" in out, f"{ref}: id printed {out!r}")
    _expect(pins["jupyterhub"] in out.split(), f"{ref}: jupyterhub-singleuser --version: {out!r}")
    _expect("/home/jovyan" in out.split(), f"{ref}: WORKDIR is not /home/jovyan: {out!r}")
    kernel = _docker_run(ref, "python3", "-c", _KERNEL_CHECK)
    _expect("KERNEL-OUT:42" in kernel, f"{ref}: kernel did not print 42: {kernel[-1500:]!r}")
    with _container(ref, "start-notebook.py", "--IdentityProvider.token=standin-verify") as name:
        server = _wait_exec(name, ["python3", "-c", _SERVER_CHECK])
    _expect("SERVER-OK" in server, f"{ref}: server check: {server!r}")
    return "uid=1000 gid=100, kernel 6*7=42, jupyter lab + terminal OK"


_NGINX_TEST_CONF = textwrap.dedent("""
    user nginx;
    worker_processes auto;
    pid /tmp/nginx.pid;
    error_log /dev/stderr warn;
    events { worker_connections 64; }
    http {
        include mime.types;
        access_log /dev/stdout;
        client_body_temp_path /var/cache/nginx/client_temp;
        proxy_temp_path       /var/cache/nginx/proxy_temp;
        fastcgi_temp_path     /var/cache/nginx/fastcgi_temp;
        uwsgi_temp_path       /var/cache/nginx/uwsgi_temp;
        scgi_temp_path        /var/cache/nginx/scgi_temp;
        server {
            listen 80;
            http2 on;
            location = /nginx-health { return 200 "ok\\n"; }
        }
    }
""")


def _verify_nginx(ref: str, pins: dict) -> str:
    out = _docker_run(ref, "sh", "-c",
                      "nginx -v 2>&1 && id nginx && test -f /etc/nginx/mime.types"
                      " && test ! -e /etc/nginx/sites-enabled/default && command -v wget")
    _expect("nginx version" in out and "uid=101(nginx) gid=101(nginx)" in out,
            f"{ref}: unexpected output {out!r}")
    with tempfile.TemporaryDirectory(prefix="standin-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(_NGINX_TEST_CONF, encoding="utf-8")
        conf.chmod(0o644)
        Path(tmp).chmod(0o755)
        extra = ["--read-only", "--tmpfs", "/var/cache/nginx", "--tmpfs", "/tmp",
                 "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "--cap-add", "SETUID",
                 "--cap-add", "SETGID", "--cap-add", "CHOWN",
                 "--security-opt", "no-new-privileges:true",
                 "-v", f"{conf}:/etc/nginx/nginx.conf:ro"]
        with _container(ref, "nginx", "-g", "daemon off;", extra=extra) as name:
            _wait_exec(name, ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/nginx-health"], 30)
    return out.splitlines()[0].strip() + "; read-only + http2 on + /nginx-health OK"


def _verify_socket_proxy(ref: str, pins: dict) -> str:
    out = _docker_run(ref, "haproxy", "-v")
    _expect("HAProxy version" in out, f"{ref}: haproxy -v printed {out!r}")
    ids = _docker_run(ref, "sh", "-c", "id && test -d /usr/local/etc/haproxy && pwd")
    _expect("(haproxy)" in ids and "/var/lib/haproxy" in ids, f"{ref}: {ids!r}")
    with tempfile.TemporaryDirectory(prefix="standin-haproxy-") as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text("global\n    log stdout format raw local0\ndefaults\n    mode http\n"
                       "    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
                       "frontend f\n    bind :2375\n    default_backend b\n"
                       "backend b\n    server s 127.0.0.1:9\n", encoding="utf-8")
        cfg.chmod(0o644)
        Path(tmp).chmod(0o755)
        _docker_run(ref, "-c", "-f", "/usr/local/etc/haproxy/haproxy.cfg",
                    extra=["-v", f"{cfg}:/usr/local/etc/haproxy/haproxy.cfg:ro"])
    return out.splitlines()[0].strip() + "; config check OK"


def _verify_certbot(ref: str, pins: dict) -> str:
    out = _docker_run(ref, "--version")
    _expect(out.startswith("certbot "), f"{ref}: certbot --version printed {out!r}")
    tools = _docker_run(ref, "-c", "import cryptography; print('ok')", extra=["--entrypoint", "python3"])
    _expect("ok" in tools, f"{ref}: python3 with cryptography missing: {tools!r}")
    return out.strip() + "; python3 + cryptography OK"


def _verify_pebble(ref: str, pins: dict) -> str:
    out = _docker_run(ref, "sh", "-c", "command -v pebble && command -v pebble-challtestsrv")
    _expect("/pebble-challtestsrv" in out, f"{ref}: {out!r}")
    return "pebble + pebble-challtestsrv present"


_OIDC_PROVIDER_CHECK = (
    "import('oidc-provider').then(({ default: Provider }) => {"
    " const provider = new Provider('https://id.example.test', {});"
    " const version = JSON.parse(require('fs').readFileSync('node_modules/oidc-provider/package.json')).version;"
    " console.log(`node ${process.version} oidc-provider ${version} ${typeof provider.callback}`); })"
)


def _verify_oidc_provider(ref: str, pins: dict) -> str:
    _, args = recipe_for(ref, pins)
    out = _docker_run(ref, "node", "-e", _OIDC_PROVIDER_CHECK)
    _expect(f"oidc-provider {args['OIDC_PROVIDER_VERSION']} function" in out, f"{ref}: {out!r}")
    _expect("server.mjs" in _docker_run(ref, "ls", "/opt/oidc"), f"{ref}: /opt/oidc/server.mjs missing")
    return out.strip().splitlines()[-1] + "; server.mjs present"
_SLAPD_CONF = textwrap.dedent("""
    include /etc/ldap/schema/core.schema
    include /etc/ldap/schema/cosine.schema
    include /etc/ldap/schema/inetorgperson.schema
    modulepath /usr/lib/ldap
    moduleload back_mdb
    database mdb
    suffix "dc=verify,dc=test"
    rootdn "cn=admin,dc=verify,dc=test"
    rootpw standin-verify
    directory /var/lib/ldap-standin
""")

_SLAPD_DATA = textwrap.dedent("""
    dn: dc=verify,dc=test
    objectClass: dcObject
    objectClass: organization
    o: verify
    dc: verify

    dn: uid=ada,dc=verify,dc=test
    objectClass: inetOrgPerson
    uid: ada
    cn: Ada
    sn: Lovelace
    userPassword: standin-verify-ada
""")


def _verify_slapd(ref: str, pins: dict) -> str:
    """run-slapd.sh builds the configuration from /seed and serves it; a user binds with her password."""
    with tempfile.TemporaryDirectory(prefix="standin-slapd-") as tmp:
        (Path(tmp) / "slapd.conf").write_text(_SLAPD_CONF, encoding="utf-8")
        (Path(tmp) / "data.ldif").write_text(_SLAPD_DATA.lstrip(), encoding="utf-8")
        for path in Path(tmp).iterdir():
            path.chmod(0o644)
        Path(tmp).chmod(0o755)
        with _container(ref, extra=["-v", f"{tmp}:/seed:ro"]) as name:
            who = _wait_exec(name, ["ldapwhoami", "-x", "-H", "ldap://127.0.0.1", "-D", "uid=ada,dc=verify,dc=test",
                                    "-w", "standin-verify-ada"], 60)
    _expect("dn:uid=ada,dc=verify,dc=test" in who, f"{ref}: ldapwhoami printed {who!r}")
    return "slapd from /seed, simple bind as a seeded user OK"


def _verify_postgres(ref: str, pins: dict) -> str:
    out = _docker_run(ref, "sh", "-c", "postgres --version && id postgres && command -v pg_dump psql pg_isready")
    _expect("PostgreSQL" in out and "uid=70(postgres) gid=70(postgres)" in out, f"{ref}: {out!r}")
    extra = ["-e", "POSTGRES_PASSWORD=standin-verify", "-e", "POSTGRES_USER=verify", "-e", "POSTGRES_DB=verifydb"]
    with _container(ref, extra=extra) as name:
        _wait_exec(name, ["pg_isready", "--host=127.0.0.1", "--username=verify", "--dbname=verifydb"], 90)
        answer = _wait_exec(name, ["sh", "-c", "PGPASSWORD=standin-verify psql -h 127.0.0.1 -U verify -d verifydb -tAc 'select 6*7'"])
    _expect(answer.strip() == "42", f"{ref}: psql over TCP with the password printed {answer!r}")
    return out.splitlines()[0].strip() + "; init from POSTGRES_* env, pg_isready, password login over TCP OK"


_VERIFIERS = {
    "hub": _verify_hub,
    "notebook": _verify_notebook,
    "nginx": _verify_nginx,
    "socket-proxy": _verify_socket_proxy,
    "certbot": _verify_certbot,
    "pebble": _verify_pebble,
    "oidc-provider": _verify_oidc_provider,
    "slapd": _verify_slapd,
    "postgres": _verify_postgres,
}


def verify_images(refs=None) -> dict:
    """Smoke-test each image; returns {ref: summary}. Raises StandinError on the first failure."""
    refs = list(refs) if refs else pinned_refs()
    pins = load_pins()
    results = {}
    for ref in refs:
        recipe, _ = recipe_for(ref, pins)
        start = time.monotonic()
        summary = _VERIFIERS[recipe](ref, pins)
        results[ref] = summary
        say(f"verified {ref}  ({time.monotonic() - start:.1f} s): {summary}")
    return results


def main(argv=None) -> int:
    refs = (argv if argv is not None else sys.argv[1:]) or pinned_refs()
    try:
        verify_images(refs)
    except StandinError as exc:
        print(f"verify_standins: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
