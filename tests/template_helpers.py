"""Shared helpers for the template tests (imported by the test modules)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
VARIANTS_DIR = TEMPLATE_DIR / "variants"

sys.path.insert(0, str(TEMPLATE_DIR / "tests" / "images"))
from standins import load_pins  # noqa: E402  (needs the path above)

# Importing files from the template folder must not leave __pycache__ there:
# cookiecutter would copy it into every generated project.
sys.dont_write_bytecode = True

# Generation in the fast tests never touches a Docker engine unless a test asks.
os.environ.setdefault("JUPYTERHUB_TEMPLATE_SKIP_DOCKER", "1")


def load_module(path, name=None):
    """Import a Python file by path (hooks and generated scripts are not packages)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def env_secrets():
    """The generated repo's .env helpers (parse_env, set_values, write_private), from the template."""
    return load_module(PROJECT_TEMPLATE / "scripts" / "env_secrets.py", "env_secrets")


def template_defaults():
    return json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())


def pins():
    """The `_pins` of cookiecutter.json: one reader, shared with the stand-in image builder."""
    return load_pins()


def variant_names():
    return sorted(path.stem for path in VARIANTS_DIR.glob("*.yaml"))


def variant_context(name):
    data = yaml.safe_load((VARIANTS_DIR / f"{name}.yaml").read_text()) or {}
    return dict(data.get("default_context") or {})


def bake_ok(cookies, context):
    """Generate with `context`; fail the test with cookiecutter's error if it did not work."""
    result = cookies.bake(extra_context=context)
    assert result.exit_code == 0, f"generation failed: {result.exception!r}"
    assert result.project_path.is_dir()
    return result.project_path


def require_command(*argv):
    """Fail (not skip) when a tool the suite depends on is missing: .ci/run installs it."""
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed; run the tests through `make test` (it installs it)")
    return subprocess.run(list(argv), capture_output=True, text=True)
