"""Our own code is linted the way the generated files are: ruff, shellcheck, hadolint.

Configuration: [tool.ruff] in pyproject.toml, tests/images/.hadolint.yaml.  The
template folder is linted as written and, rendered, on every variant.
"""

import subprocess
import sys

import pytest

from template_helpers import TEMPLATE_DIR, bake_ok, require_command, variant_context, variant_names

PYPROJECT = TEMPLATE_DIR / "pyproject.toml"
HADOLINT_CONFIG = TEMPLATE_DIR / "tests" / "images" / ".hadolint.yaml"


def tracked(*patterns):
    result = subprocess.run(["git", "-C", str(TEMPLATE_DIR), "ls-files", *patterns], capture_output=True, text=True, check=True)
    return [TEMPLATE_DIR / name for name in result.stdout.split()]


def ruff(*paths):
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(PYPROJECT), *map(str, paths)],
                          capture_output=True, text=True, cwd=TEMPLATE_DIR)


def test_ruff_on_the_template():
    result = ruff(TEMPLATE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", variant_names())
def test_ruff_on_every_generated_variant(cookies, variant):
    result = ruff(bake_ok(cookies, variant_context(variant)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_on_every_shell_script(cookies):
    scripts = tracked("*.sh") + sorted(bake_ok(cookies, {}).rglob("*.sh"))
    scripts = [path for path in scripts if "{{" not in str(path)]
    assert scripts
    result = require_command("shellcheck", *map(str, scripts))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_on_every_dockerfile(cookies):
    dockerfiles = [path for path in tracked("*Dockerfile") if "{{" not in str(path)]
    dockerfiles += sorted(bake_ok(cookies, {}).rglob("Dockerfile"))
    assert len(dockerfiles) >= 2
    result = require_command("hadolint", "--config", str(HADOLINT_CONFIG), *map(str, dockerfiles))
    assert result.returncode == 0, result.stdout + result.stderr
