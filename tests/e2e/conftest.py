"""Every test in this folder is end-to-end (`make e2e`); fixtures come from e2e_helpers."""

from pathlib import Path

import pytest

from e2e_helpers import deployment, phase_times  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
    # Restarting the engine stops every stack; run those tests after all others.
    items.sort(key=lambda item: item.get_closest_marker("engine_restart") is not None)
