"""`make images` (scripts/images.py), which `make up` runs first: every image the site needs is
present before anything starts; only missing ones are pulled; a failed pull stops with one line."""

import sys

import pytest

from template_helpers import PROJECT_TEMPLATE, bake_ok, env_secrets, load_module, pins, variant_context

sys.path.insert(0, str(PROJECT_TEMPLATE / "hub"))
sys.path.insert(0, str(PROJECT_TEMPLATE / "scripts"))
images = load_module(PROJECT_TEMPLATE / "scripts" / "images.py", "images")
ENV = env_secrets()


def site_images(project, reverse_proxy, **overrides):
    values = ENV.parse_env((project / ".env").read_text())
    values.update(overrides)
    return images.site_images(values, reverse_proxy)


def test_default_site_needs_hub_notebook_and_nginx_images(cookies):
    project = bake_ok(cookies, {})
    values = ENV.parse_env((project / ".env").read_text())
    assert site_images(project, "nginx-container") == [pins()["hub_image"], values["NOTEBOOK_IMAGE"], pins()["nginx_image"]]


@pytest.mark.parametrize("variant, extra_keys", [
    ("postgresql", ["POSTGRES_IMAGE"]),
    ("socket-proxy", ["SOCKET_PROXY_IMAGE"]),
    ("letsencrypt", ["CERTBOT_IMAGE"]),
])
def test_every_pinned_image_of_a_variant_is_needed(cookies, variant, extra_keys):
    project = bake_ok(cookies, variant_context(variant))
    values = ENV.parse_env((project / ".env").read_text())
    needed = site_images(project, "nginx-container")
    for key in ["JUPYTERHUB_IMAGE", "NOTEBOOK_IMAGE", "NGINX_IMAGE", *extra_keys]:
        assert values[key] and values[key] in needed, key


def test_host_nginx_site_does_not_need_the_nginx_image(cookies):
    project = bake_ok(cookies, variant_context("host-nginx"))
    values = ENV.parse_env((project / ".env").read_text())
    needed = site_images(project, "host-nginx")
    assert values["NGINX_IMAGE"] not in needed, "only `make lint` runs it"
    assert values["JUPYTERHUB_IMAGE"] in needed and values["NOTEBOOK_IMAGE"] in needed


def test_offered_notebook_images_are_needed_once_each(cookies):
    project = bake_ok(cookies, {})
    default = ENV.parse_env((project / ".env").read_text())["NOTEBOOK_IMAGE"]
    offered = f"Python={default},R=quay.io/jupyter/r-notebook:2026-11-23,Julia=example.org/julia-notebook:1.11"
    needed = site_images(project, "nginx-container", NOTEBOOK_IMAGES=offered)
    assert needed.count(default) == 1
    assert needed[-2:] == ["quay.io/jupyter/r-notebook:2026-11-23", "example.org/julia-notebook:1.11"]


def test_a_bad_notebook_images_list_is_one_line(cookies):
    project = bake_ok(cookies, {})
    with pytest.raises(images.SettingError, match=r"^NOTEBOOK_IMAGES='r-notebook:latest' in \.env: "):
        site_images(project, "nginx-container", NOTEBOOK_IMAGES="R=r-notebook:latest")


def test_present_images_are_never_pulled_and_missing_ones_are_in_order():
    pulled = []
    present = {"hub:1", "nginx:2"}
    result = images.ensure_images(["hub:1", "notebook:3", "nginx:2", "r:4"], present=present.__contains__, fetch=pulled.append)
    assert pulled == result == ["notebook:3", "r:4"]
    pulled.clear()
    assert images.ensure_images(["hub:1", "nginx:2"], present=present.__contains__, fetch=pulled.append) == []
    assert pulled == []


def test_the_first_failed_pull_stops_the_rest():
    tried = []

    def fetch(image):
        tried.append(image)
        raise images.PullError(f"images: cannot pull {image}")

    with pytest.raises(images.PullError, match="notebook:3"):
        images.ensure_images(["notebook:3", "r:4"], present=lambda image: False, fetch=fetch)
    assert tried == ["notebook:3"]
