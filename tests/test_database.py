"""The `database` answer: SQLite (default) or a PostgreSQL service, wired through .env."""

import subprocess
import sys

from template_helpers import bake_ok, env_secrets, pins, variant_context
from test_hub_config import load_config


def test_postgresql_variant_wires_hub_and_database(cookies):
    project = bake_ok(cookies, variant_context("postgresql"))
    values = env_secrets().parse_env((project / ".env").read_text())
    assert values["DATABASE_URL"] == "postgresql+psycopg2://jupyterhub@db:5432/jupyterhub", "no password in the URL"
    assert len(values["POSTGRES_PASSWORD"]) == 48
    assert values["DB_VOLUME"] == "jupyterhub-data-postgres"
    assert values["POSTGRES_IMAGE"] == pins()["postgres_image"]
    requirements = (project / "hub" / "requirements.txt").read_text()
    assert f"psycopg2-binary=={pins()['psycopg2_binary']}\n" in requirements
    compose = (project / "docker-compose.yml").read_text()
    assert "PGPASSWORD: ${POSTGRES_PASSWORD:?run make secrets}" in compose
    assert "condition: service_healthy" in compose.split("\n  db:\n")[0], "the hub waits for a healthy database"
    assert load_config(project)["db_url"] == "postgresql+psycopg2://jupyterhub@db:5432/jupyterhub"


def test_sqlite_default_has_no_postgres_settings(cookies):
    project = bake_ok(cookies, {})
    text = (project / ".env").read_text() + (project / "docker-compose.yml").read_text()
    assert "POSTGRES" not in text and "DB_VOLUME" not in text
    assert "psycopg" not in (project / "hub" / "requirements.txt").read_text()
    assert load_config(project)["db_url"] == "sqlite:////data/jupyterhub.sqlite"


def test_rotation_keeps_the_database_password(cookies):
    project = bake_ok(cookies, variant_context("postgresql"))
    parse_env = env_secrets().parse_env
    before = parse_env((project / ".env").read_text())
    subprocess.run([sys.executable, "scripts/env_secrets.py", "rotate"], cwd=project, check=True, capture_output=True)
    after = parse_env((project / ".env").read_text())
    assert after["POSTGRES_PASSWORD"] == before["POSTGRES_PASSWORD"], "PostgreSQL keeps the password of its first start"
    assert after["CONFIGPROXY_AUTH_TOKEN"] != before["CONFIGPROXY_AUTH_TOKEN"]


def test_check_requires_the_database_password(cookies):
    project = bake_ok(cookies, variant_context("postgresql"))
    env = env_secrets()
    path = project / ".env"
    env.write_private(path, env.set_values(path.read_text(), {"POSTGRES_PASSWORD": ""}))
    result = subprocess.run([sys.executable, "scripts/check.py", "host-nginx"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 1
    assert "error: POSTGRES_PASSWORD is empty in .env: run `make secrets`" in result.stderr


def test_post_gen_hook_creates_the_database_volume(hook_post):
    answers = {"docker_network": "net", "data_volume": "hub-data", "database": "postgresql"}
    assert hook_post.docker_objects(answers) == [("network", "net"), ("volume", "hub-data"), ("volume", "hub-data-postgres")]
    assert hook_post.docker_objects({**answers, "database": "sqlite"}) == [("network", "net"), ("volume", "hub-data")]


def test_make_secrets_adds_a_secret_new_in_env_example(cookies):
    """An older .env without POSTGRES_PASSWORD gets one from `make secrets`, as .env.example lists it."""
    project = bake_ok(cookies, variant_context("postgresql"))
    path = project / ".env"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("POSTGRES_PASSWORD=")) + "\n")
    result = subprocess.run([sys.executable, "scripts/env_secrets.py", "ensure"], cwd=project, capture_output=True, text=True)
    assert result.stdout.strip() == ".env: generated POSTGRES_PASSWORD"
    assert len(env_secrets().parse_env(path.read_text())["POSTGRES_PASSWORD"]) == 48
