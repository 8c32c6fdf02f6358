"""The settings contract: what the hub config reads, docker-compose.yml passes and .env.example documents.

scripts/check_settings.py (run by `make check`, and on every variant by
test_generation.py) enforces it; these tests show it catches each way a fork
can break it.
"""

import subprocess
import sys

import pytest

from template_helpers import bake_ok, load_module


def check(project):
    return subprocess.run([sys.executable, str(project / "scripts" / "check_settings.py")], capture_output=True, text=True)


def append(path, text):
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_the_generated_project_keeps_the_contract(cookies):
    result = check(bake_ok(cookies, {}))
    assert result.returncode == 0, result.stderr
    assert "every hub setting can be set from .env" in result.stdout


def test_every_setting_the_config_reads_is_passed_by_compose(cookies):
    project = bake_ok(cookies, {})
    contract = load_module(project / "scripts" / "check_settings.py", "check_settings")
    reads = contract.config_reads((project / "hub" / "jupyterhub_config.py").read_text())
    settings = {name for name, kind in reads.items() if kind == "setting"}
    # The ones an operator tunes most: all reachable from .env.
    assert {"SPAWN_TIMEOUT", "SPAWN_HTTP_TIMEOUT", "CONCURRENT_SPAWN_LIMIT", "NOTEBOOK_DIR", "CULL_EVERY"} <= settings
    assert {"NOTEBOOK_IMAGES", "USER_GPUS"} <= settings, "env_parsed() settings count too"
    hub_environment = contract.compose_model(project)["services"]["hub"]["environment"]
    assert settings <= set(hub_environment)
    internal = {name for name, kind in reads.items() if kind == "internal"}
    # OIDC_CA_FILE: hub/oidc-ca/ca.pem inside the image (the tests point it at their own CA).
    assert internal == {"JUPYTERHUB_DATA_DIR", "JUPYTERHUB_USERLIST", "HUB_CONNECT_HOST", "OIDC_CA_FILE"}


@pytest.mark.parametrize(
    "path, text, message",
    [
        ("hub/jupyterhub_config.py", '\nc.Spawner.debug = env("SPAWNER_DEBUG", "false") == "true"\n',
         "SPAWNER_DEBUG is read by hub/jupyterhub_config.py but docker-compose.yml does not pass it to the hub"),
        (".env.example", "\n# Nobody reads this.\nORPHAN_SETTING=1\n",
         "ORPHAN_SETTING is in .env.example but nothing reads it"),
        (".env.example", "\nJUPYTERHUB_DATA_DIR=/elsewhere\n",
         "JUPYTERHUB_DATA_DIR is internal() in hub/jupyterhub_config.py but set in .env.example"),
    ],
)
def test_a_broken_contract_is_reported(cookies, path, text, message):
    project = bake_ok(cookies, {})
    append(project / path, text)
    result = check(project)
    assert result.returncode == 1
    assert f"error: {message}" in result.stderr


def test_an_undocumented_compose_variable_is_reported(cookies):
    project = bake_ok(cookies, {})
    compose = project / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("      MEM_LIMIT: ${MEM_LIMIT:-2G}\n",
                                                   "      MEM_LIMIT: ${MEM_LIMIT:-2G}\n      EXTRA: ${UNDOCUMENTED_VALUE:-x}\n"))
    result = check(project)
    assert result.returncode == 1
    assert "error: docker-compose.yml uses ${UNDOCUMENTED_VALUE}, which .env.example does not document" in result.stderr


def test_a_setting_passed_without_a_value_from_env_is_reported(cookies):
    project = bake_ok(cookies, {})
    compose = project / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("      CULL_EVERY: ${CULL_EVERY:-600}\n", "      CULL_EVERY: '600'\n"))
    result = check(project)
    assert result.returncode == 1
    assert "error: CULL_EVERY is passed to the hub without a value from .env" in result.stderr
