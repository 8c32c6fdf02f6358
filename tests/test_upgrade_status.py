"""scripts/upgrade.py and scripts/status.py of the generated repo, without a Docker engine:
what counts as a dirty .env or half-bumped pins, reading a certificate's expiry from
its DER bytes, and the user server and volume rows of `make status`."""

import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from template_helpers import PROJECT_TEMPLATE, load_module


@pytest.fixture(scope="module")
def upgrade():
    return load_module(PROJECT_TEMPLATE / "scripts" / "upgrade.py", "upgrade")


@pytest.fixture(scope="module")
def status():
    return load_module(PROJECT_TEMPLATE / "scripts" / "status.py", "status")


EXAMPLE = "# comment\nA=1\nSTATUS_API_TOKEN=\nNEW_SETTING=x\n"


def test_env_missing_keys_of_env_example_is_dirty(upgrade):
    reason = upgrade.dirty_env_reason("A=2\nSTATUS_API_TOKEN=abc\n", EXAMPLE)
    assert reason.startswith(".env lacks NEW_SETTING, which .env.example has") and "make secrets" in reason
    assert upgrade.dirty_env_reason("A=2\nSTATUS_API_TOKEN=abc\nNEW_SETTING=y\nMINE=1\n", EXAMPLE) is None


@pytest.mark.parametrize(("image", "requirements", "bad"), [
    ("quay.io/jupyterhub/jupyterhub:6.1.1", "jupyterhub==6.1.1\ndockerspawner==14.0.0\n", False),
    ("quay.io/jupyterhub/jupyterhub:6.1.1", "# pins\njupyterhub==5.5.4\n", True),
    ("registry.example.org:5000/hub:6.1.1", "jupyterhub==5.5.4\n", True),
    ("registry.example.org:5000/my-hub:latest", "jupyterhub==5.5.4\n", False),  # no version in the tag: not judged
])
def test_hub_image_and_requirements_must_name_one_version(upgrade, image, requirements, bad):
    reason = upgrade.version_mismatch({"JUPYTERHUB_IMAGE": image}, requirements)
    assert (reason is not None) == bad, reason
    if bad:
        assert image in reason and "jupyterhub==5.5.4" in reason


def test_pinned_images_lists_each_image_once(upgrade):
    values = {"JUPYTERHUB_IMAGE": "hub:1", "NOTEBOOK_IMAGE": "nb:1", "NGINX_IMAGE": "nginx:1",
              "NOTEBOOK_IMAGES": "Python=nb:1,R=r:2"}
    assert upgrade.pinned_images(values) == ["hub:1", "nb:1", "nginx:1", "r:2"]


def test_certificate_expiry_from_der(status, tmp_path):
    for days, expected_year_offset in ((30, 0), (20000, 54)):  # UTCTime, and GeneralizedTime after 2049
        key, cert = tmp_path / "key.pem", tmp_path / "cert.der"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-outform", "DER", "-out", str(cert), "-days", str(days), "-subj", "/CN=hub.test"],
                       check=True, capture_output=True)
        expiry = status.certificate_expiry(cert.read_bytes())
        assert abs(expiry - (datetime.now(timezone.utc) + timedelta(days=days))) < timedelta(minutes=5)
        assert expiry.year >= datetime.now(timezone.utc).year + expected_year_offset


def test_server_rows_show_state_age_and_activity(status):
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    users = [
        {"name": "alice", "servers": {"": {"ready": True, "started": "2026-01-01T11:00:00.000000Z",
                                           "last_activity": "2026-01-01T11:59:30Z"}}},
        {"name": "bob", "servers": {"": {"ready": False, "pending": "spawn", "started": None, "last_activity": None}}},
        {"name": "carol", "servers": {}},
    ]
    assert status.server_rows(users, now) == [("alice", "ready", "60 min ago", "30 s ago"), ("bob", "spawn", "never", "never")]


def test_volume_sizes_add_up(status):
    assert status.size_bytes("1.5MB") == 1.5e6 and status.size_bytes("0B") == 0 and status.size_bytes("N/A") == 0
    assert status.human(1.5e6 + 2e3) == "1.5 MB"
