"""hub/environments.py (image/size choices, shared folders, GPUs), its use by `make check`, and `@group` in userlist."""

import subprocess
import sys

import pytest

from template_helpers import PROJECT_TEMPLATE, bake_ok, env_secrets, load_module, variant_context

environments = load_module(PROJECT_TEMPLATE / "hub" / "environments.py", "environments")
userlist = load_module(PROJECT_TEMPLATE / "hub" / "userlist.py", "userlist")


def test_images_keep_their_order_and_names():
    images = environments.parse_images(" Python = quay.io/jupyter/scipy-notebook:2026-11-23 , "
                                       "R=quay.io/jupyter/r-notebook@sha256:" + "a" * 64)
    assert list(images) == ["Python", "R"]
    assert images["Python"] == "quay.io/jupyter/scipy-notebook:2026-11-23"
    assert environments.parse_images("") == {}


def test_sizes_parse_memory_and_cpus():
    sizes = environments.parse_sizes("small=1G/0.5,large=4G/2")
    assert sizes == {"small": ("1G", 0.5), "large": ("4G", 2.0)}


@pytest.mark.parametrize("value, count", [("", None), ("none", None), ("0", None), ("all", -1), ("ALL", -1), ("1", 1), ("8", 8)])
def test_gpus(value, count):
    requests = environments.parse_gpus(value)
    if count is None:
        assert requests == []
    else:
        assert requests == [{"driver": "", "count": count, "device_ids": [], "capabilities": [["gpu"]], "options": {}}]


@pytest.mark.parametrize("parse, value, fragment", [
    (environments.parse_images, "Python", "name=image"),
    (environments.parse_images, "Python=quay.io/jupyter/scipy-notebook", "pinned tag"),
    (environments.parse_images, "Python=quay.io/jupyter/scipy-notebook:latest", "pinned tag"),
    (environments.parse_images, "A=x/y:1,A=x/z:1", "only once"),
    (environments.parse_images, "<b>=x/y:1", "names are"),
    (environments.parse_images, "P=x/y:1 --privileged", "pinned tag"),
    (environments.parse_sizes, "small=1G", "MEMORY/CPUS"),
    (environments.parse_sizes, "small=1G/0", "MEMORY/CPUS"),
    (environments.parse_sizes, "small=lots/1", "MEMORY/CPUS"),
    (environments.parse_gpus, "65", "1 to 64"),
    (environments.parse_gpus, "-1", "1 to 64"),
    (environments.parse_gpus, "device=0", "1 to 64"),
    (environments.parse_shared_data, "relative/path", "Docker volume name"),
    (environments.parse_shared_data, "/srv/data:rw", "absolute host path"),
    (environments.parse_shared_data, "/srv/../etc", "absolute host path"),
    (environments.parse_group_folders, "physics", "group=folder"),
    (environments.parse_group_folders, "Physics=lab", "group names"),
    (environments.parse_group_folders, "physics=/var/run/docker.sock:/x", "absolute host path"),
])
def test_bad_values_name_variable_value_and_rule(parse, value, fragment):
    with pytest.raises(environments.SettingError) as raised:
        parse(value)
    assert "in .env: " in str(raised.value) and fragment in str(raised.value)


def test_no_form_for_one_image_and_no_sizes():
    assert environments.options_form({"Only": "x/y:1"}, {}) == ""
    form = environments.options_form({"A": "x/a:1", "B&C": "x/b:1"}, {})
    assert 'name="image"' in form and 'value="B&amp;C"' in form and 'name="size"' not in form


def test_choose_defaults_to_the_first_and_refuses_anything_else():
    images, sizes = {"A": "x/a:1", "B": "x/b:1"}, environments.parse_sizes("s=1G/1,l=2G/2")
    assert environments.choose(images, sizes, {}) == ("x/a:1", ("1G", 1.0))
    assert environments.choose(images, sizes, {"image": "B", "size": "l", "other": 1}) == ("x/b:1", ("2G", 2.0))
    for options in ({"image": "x/b:1"}, {"size": "2G/2"}, {"image": ["A"]}):
        with pytest.raises(environments.ChoiceError, match="is not offered"):
            environments.choose(images, sizes, options)
    with pytest.raises(environments.ChoiceError, match="offers no choice"):
        environments.choose({}, {}, {"image": "A"})


def test_options_from_form_keeps_only_its_fields():
    assert environments.options_from_form({"image": ["A"], "size": ["s"], "_xsrf": ["token"]}) == {"image": "A", "size": "s"}


def test_userlist_groups():
    users = userlist.parse_userlist("alice admin @physics\nbob @physics @chem_lab\ncarol\n")
    assert users.allowed == {"alice", "bob", "carol"} and users.admins == {"alice"}
    assert users.groups == {"physics": {"alice", "bob"}, "chem_lab": {"bob"}}
    assert userlist.parse_userlist("dave\n").groups == {}


@pytest.mark.parametrize("line, fragment", [
    ("bob @", "'@' is not a valid group"), ("bob @Phys!", "not a valid group"), ("@physics", "not a valid user name"),
])
def test_userlist_bad_groups(line, fragment):
    with pytest.raises(userlist.UserlistError, match=fragment):
        userlist.parse_userlist(line + "\n")


def check(project):
    return subprocess.run([sys.executable, "scripts/check.py", "nginx-container"], cwd=project, capture_output=True, text=True, check=False)


def set_env(project, **values):
    helpers = env_secrets()
    path = project / ".env"
    helpers.write_private(path, helpers.set_values(path.read_text(), values))


def test_make_check_accepts_good_settings_and_names_bad_ones(cookies):
    project = bake_ok(cookies, variant_context("local-trial"))
    subprocess.run(["make", "-C", str(project), "certs"], capture_output=True, check=True)
    set_env(project, NOTEBOOK_IMAGES="A=x/a:1,B=x/b:1", NOTEBOOK_SIZES="s=1G/1", SHARED_DATA="/srv/data",
            GROUP_FOLDERS="physics=lab-physics", USER_GPUS="all")
    assert check(project).returncode == 0, check(project).stderr
    set_env(project, NOTEBOOK_SIZES="s=1G", USER_GPUS="lots")
    result = check(project)
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert any(line.startswith("error: NOTEBOOK_SIZES='s=1G' in .env:") for line in errors), errors
    assert any(line.startswith("error: USER_GPUS='lots' in .env:") for line in errors), errors


def test_make_check_refuses_host_folders_behind_the_socket_proxy(cookies):
    project = bake_ok(cookies, variant_context("socket-proxy"))
    subprocess.run(["make", "-C", str(project), "certs"], capture_output=True, check=True)
    set_env(project, SHARED_DATA="/srv/data", GROUP_FOLDERS="physics=lab-physics")
    result = check(project)
    assert result.returncode == 1
    assert "/srv/data in .env is a host folder, which the Docker socket proxy refuses" in result.stderr
    set_env(project, SHARED_DATA="lab-data")
    assert check(project).returncode == 0, check(project).stderr


def test_every_new_setting_is_in_env_example_compose_and_config(cookies):
    project = bake_ok(cookies, {})
    example = env_secrets().parse_env((project / ".env.example").read_text())
    compose = (project / "docker-compose.yml").read_text()
    config = (project / "hub" / "jupyterhub_config.py").read_text()
    for name in ("NOTEBOOK_IMAGES", "NOTEBOOK_SIZES", "SHARED_DATA", "GROUP_FOLDERS", "USER_GPUS"):
        assert name in example
        assert f"      {name}: ${{{name}:-}}\n" in compose
        assert f'"{name}")' in config
