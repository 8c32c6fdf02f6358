"""Fixtures for the template tests; helpers live in template_helpers.py."""

import pytest

from template_helpers import TEMPLATE_DIR, load_module


@pytest.fixture
def hook_pre():
    return load_module(TEMPLATE_DIR / "hooks" / "pre_gen_project.py", "pre_gen_project")


@pytest.fixture
def hook_post():
    return load_module(TEMPLATE_DIR / "hooks" / "post_gen_project.py", "post_gen_project")
