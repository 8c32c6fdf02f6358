"""What users' containers get, from `.env`: image and size choices, shared folders, GPUs.

    NOTEBOOK_IMAGES=Python=quay.io/jupyter/scipy-notebook:2026-11-23,R=quay.io/jupyter/r-notebook:2026-11-23
    NOTEBOOK_SIZES=small=1G/0.5,large=4G/2
    SHARED_DATA=/srv/datasets                   (host folder or Docker volume; read-only for everyone)
    GROUP_FOLDERS=physics=jupyterhub-group-physics   (read-write for members of each JupyterHub group)
    USER_GPUS=all                               (or a number, or empty for none)

Each parser returns plain values and raises SettingError naming the variable,
the value and the rule, so a typo stops the hub (and `make check`) with one
clear line.  Plain Python (no third-party imports): jupyterhub_config.py and
scripts/check.py both use it.
"""

import html
import re
from typing import NamedTuple

CHOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,39}$")
# A Docker image reference: registry/path:tag or @sha256 digest, no spaces.
IMAGE_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$", re.IGNORECASE)
MEMORY = re.compile(r"^[1-9][0-9]{0,5}(?:\.[0-9]{1,3})?[KMGT]$")
CPUS = re.compile(r"^[0-9]{1,4}(?:\.[0-9]{1,3})?$")
# Same rule as user names in hub/userlist.py, plus '_'.
GROUP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_]|-(?=[a-z0-9_])){0,38}$")
VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$")
# Docker splits bind specifications on ':' and these lists on ','.
HOST_PATH = re.compile(r"^(?:/[A-Za-z0-9._@+-]+)+/?$")
MAX_GPUS = 64
GPU_CAPABILITIES = [["gpu"]]


class SettingError(ValueError):
    """A setting in .env that cannot be used; the message names variable, value and rule."""

    def __init__(self, variable, value, rule):
        super().__init__(f"{variable}={value!r} in .env: {rule}")


class Size(NamedTuple):
    mem_limit: str
    cpu_limit: float


class ChoiceError(ValueError):
    """A user asked for an image or size that is not offered."""


def parse_pairs(variable, text, rule):
    """`name=value, name=value` -> [(name, value)]; names unique, order kept."""
    pairs, seen = [], set()
    for item in [part.strip() for part in text.split(",") if part.strip()]:
        name, equals, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name or not value:
            raise SettingError(variable, item, rule)
        if name in seen:
            raise SettingError(variable, name, "each name may appear only once")
        seen.add(name)
        pairs.append((name, value))
    return pairs


def parse_images(text):
    """NOTEBOOK_IMAGES -> {name: image reference}; the first one is the default."""
    rule = "a comma-separated list of name=image, e.g. Python=quay.io/jupyter/scipy-notebook:2026-11-23"
    images = {}
    for name, image in parse_pairs("NOTEBOOK_IMAGES", text, rule):
        if not CHOICE_NAME.match(name):
            raise SettingError("NOTEBOOK_IMAGES", name, "names are 1-40 letters, digits, spaces and . _ ( ) + -")
        if not IMAGE_REFERENCE.match(image) or image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
            raise SettingError("NOTEBOOK_IMAGES", image, "an image with a pinned tag or digest, e.g. quay.io/jupyter/r-notebook:2026-11-23")
        images[name] = image
    return images


def parse_sizes(text):
    """NOTEBOOK_SIZES -> {name: Size}; the first one is the default."""
    rule = "a comma-separated list of name=MEMORY/CPUS, e.g. small=1G/0.5,large=4G/2"
    sizes = {}
    for name, value in parse_pairs("NOTEBOOK_SIZES", text, rule):
        if not CHOICE_NAME.match(name):
            raise SettingError("NOTEBOOK_SIZES", name, "names are 1-40 letters, digits, spaces and . _ ( ) + -")
        memory, slash, cpus = value.partition("/")
        if not slash or not MEMORY.match(memory) or not CPUS.match(cpus) or float(cpus) <= 0:
            raise SettingError("NOTEBOOK_SIZES", f"{name}={value}", rule)
        sizes[name] = Size(memory, float(cpus))
    return sizes


def parse_gpus(text):
    """USER_GPUS -> the engine's device requests: [] (none), all GPUs, or N GPUs per container."""
    value = text.strip().lower()
    if value in ("", "none", "0"):
        return []
    if value == "all":
        count = -1
    elif value.isdigit() and 1 <= int(value) <= MAX_GPUS:
        count = int(value)
    else:
        raise SettingError("USER_GPUS", text, f"empty (no GPUs), all, or a number of GPUs from 1 to {MAX_GPUS}")
    # What `docker run --gpus` sends; the NVIDIA container toolkit on the host serves it.
    return [{"driver": "", "count": count, "device_ids": [], "capabilities": GPU_CAPABILITIES, "options": {}}]


def check_folder_source(variable, value):
    """A host folder (absolute path) or a Docker volume name; returns it unchanged."""
    if value.startswith("/"):
        if not HOST_PATH.match(value) or "/../" in value + "/" or "/./" in value + "/":
            raise SettingError(variable, value, "an absolute host path of letters, digits and . _ @ + - (no ':' or ',')")
    elif not VOLUME_NAME.match(value):
        raise SettingError(variable, value, "an absolute host path or a Docker volume name (letters, digits, _ . -)")
    return value


def is_host_path(source):
    return source.startswith("/")


def parse_shared_data(text):
    """SHARED_DATA -> a host folder or volume name, or '' for none."""
    value = text.strip()
    return check_folder_source("SHARED_DATA", value) if value else ""


def parse_group_folders(text):
    """GROUP_FOLDERS -> {group: host folder or volume name}."""
    rule = "a comma-separated list of group=folder, e.g. physics=jupyterhub-group-physics"
    folders = {}
    for group, source in parse_pairs("GROUP_FOLDERS", text, rule):
        if not GROUP_NAME.match(group):
            raise SettingError("GROUP_FOLDERS", group, "group names are lowercase letters, digits, '_' and inner '-'")
        folders[group] = check_folder_source("GROUP_FOLDERS", source)
    return folders


def shared_data_mount(notebook_dir):
    return f"{notebook_dir}/shared-data"


def group_folder_mount(notebook_dir, group):
    return f"{notebook_dir}/groups/{group}"


def group_overrides(folders, notebook_dir):
    """Spawner.group_overrides mounting each group's folder for its members only."""
    return {
        f"group-folder-{group}": {
            "groups": [group],
            "spawner_override": {"volumes": {source: {"bind": group_folder_mount(notebook_dir, group), "mode": "rw"}}},
        }
        for group, source in folders.items()
    }


def _select(field, label, names):
    options = "".join(
        f'<option value="{html.escape(name)}"{" selected" if index == 0 else ""}>{html.escape(text)}</option>'
        for index, (name, text) in enumerate(names)
    )
    return (
        f'<div class="mb-3"><label class="form-label" for="{field}-choice">{label}</label>'
        f'<select class="form-select" id="{field}-choice" name="{field}">{options}</select></div>'
    )


def options_form(images, sizes):
    """The spawn form's fields: a select per list with more than one entry; '' means no form."""
    fields = []
    if len(images) > 1:
        fields.append(_select("image", "Environment", [(name, f"{name} ({image})") for name, image in images.items()]))
    if len(sizes) > 1:
        fields.append(_select("size", "Size", [
            (name, f"{name} ({size.mem_limit} memory, {size.cpu_limit:g} CPU)") for name, size in sizes.items()
        ]))
    return "\n".join(fields)


def options_from_form(form_data):
    """The form's own fields only (the form also posts its _xsrf token)."""
    return {field: values[0] for field, values in form_data.items() if field in ("image", "size") and values}


def choose(images, sizes, user_options):
    """(image or None, Size or None) for `user_options`; ChoiceError for anything not offered."""
    chosen = []
    for field, offered in (("image", images), ("size", sizes)):
        value = user_options.get(field)
        if value is None:
            chosen.append(next(iter(offered.values()), None))  # the first entry is the default
        elif isinstance(value, str) and value in offered:
            chosen.append(offered[value])
        else:
            choices = ", ".join(offered) or "none (this hub offers no choice)"
            raise ChoiceError(f"{field} {str(value)[:60]!r} is not offered; choose one of: {choices}")
    return tuple(chosen)
