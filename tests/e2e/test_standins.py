"""Every pinned image keeps the conventions the generated deployment relies on.

Runs the smoke tests of tests/images/verify_standins.py on each pinned reference
(stand-ins here; the real images where a registry answers), so a recipe change
that breaks a convention fails the suite, not a user's `make up`.
"""

import pytest

from standins import ensure_images, pinned_refs
from verify_standins import verify_images


@pytest.mark.parametrize("reference", pinned_refs())
def test_pinned_image_keeps_its_conventions(reference):
    ensure_images([reference])
    summary = verify_images([reference])[reference]
    assert summary
