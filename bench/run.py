"""make bench: how fast a generated deployment serves a class on this machine, next to its limits.

    python bench/run.py            # the full run: writes docs/benchmarks.md and docs/benchmarks.png
    python bench/run.py --short    # a few minutes (.ci/run): the same code on small settings, into build/bench/

Every figure is the median and spread of repeated runs, shown next to the limit measured in the
same run (plain `docker run`s of the notebook image, no hub).  Figures, not pass/fail: the report
says which targets were met.  Needs the Docker engine and the stand-in images (`make engine`).
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ElementTree
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
sys.path.insert(0, str(TEMPLATE_DIR / "tests" / "e2e"))
sys.path.insert(0, str(BENCH_DIR))

import browser_login  # noqa: E402  (needs the paths above)
import cpu_profile  # noqa: E402
import hub_load  # noqa: E402
import limits  # noqa: E402
import report  # noqa: E402
from e2e_helpers import run, set_env, site_lifecycle  # noqa: E402
from standins import notebook_ref  # noqa: E402

NETWORK, VOLUME = "jh-bench-network", "jh-bench-data"
SITE_CONTEXT = {
    "project_name": "Bench Hub", "hostname": "bench.e2e.test", "authenticator": "local-trial",
    "admin_users": "admin", "allowed_users": "alice", "notebook_image_flavor": "base-notebook",
    "mem_limit": "1G", "cpu_limit": "1", "http_port": "18280", "https_port": "18643",
    "docker_network": NETWORK, "data_volume": VOLUME,
}
# Own names for user containers and volumes, so the bench never touches another site's.
SITE_ENV = {"USER_CONTAINER_PREFIX": "jh-bench", "USER_VOLUME_PREFIX": "jh-bench-user"}

# compare: the storm again with one setting changed, the tuning's before/after
# (SPAWN_QUEUE_WIDTH={size} admits everyone at once: the queue turned off).
SETTINGS = {
    "full": {"repeats": 3, "sizes": [5, 10, 20, 50], "storm_repeats": {50: 2}, "default_storm_repeats": 3, "rounds": 200,
             "compare": ["SPAWN_QUEUE_WIDTH={size}", "DOCKER_API_THREADS=1", "SPAWN_READY_POLL_MS=5000"], "compare_repeats": 2,
             "report_dir": TEMPLATE_DIR / "docs"},
    "short": {"repeats": 2, "sizes": [5], "storm_repeats": {}, "default_storm_repeats": 1, "rounds": 30,
              "compare": ["SPAWN_QUEUE_WIDTH={size}"], "compare_repeats": 1,
              "report_dir": TEMPLATE_DIR / "build" / "bench"},
}
SECTIONS = ["template", "footprint", "single", "nginx", "browser", "storms", "compare", "up"]


class TempDirs:
    """What site_lifecycle needs of pytest's tmp_path_factory."""

    def __init__(self, root):
        self.root = root

    def mktemp(self, name):
        path = self.root / name
        run(["rm", "-rf", str(path)])
        path.mkdir(parents=True)
        return path


def user_names(settings):
    """Everyone the bench logs in: new users for every run, all in the site's userlist."""
    names = [f"{kind}{index}" for kind in ("mem", "one", "ws", "web") for index in range(settings["repeats"])]
    storms = [(f"s{size}", size) for size in settings["sizes"]]
    if settings["compare"]:
        storms += [(f"c{index}n{compare_size(settings)}", compare_size(settings)) for index in range(len(settings["compare"]))]
    for tag, size in storms:
        repeats = settings["compare_repeats"] if tag.startswith("c") else storm_repeats(settings, size)
        for repeat in range(repeats):
            names += [f"{tag}r{repeat}u{index:02d}" for index in range(size)]
    return names


def add_to_userlist(names):
    def before_up(site):
        with open(site.path / "userlist", "a") as userlist:
            userlist.write("".join(f"{name}\n" for name in names))
    return before_up


def seconds_of(command, cwd=TEMPLATE_DIR, env=None):
    started = time.monotonic()
    run(command, cwd=cwd, env=env, timeout=1800)
    return round(time.monotonic() - started, 2)


def bench_template(settings, results, scratch):
    """Generating a deployment with the defaults; the fast tests as `make test` last ran them."""
    results["template"] = {"generate_s": [
        seconds_of([sys.executable, "-m", "cookiecutter", "--no-input", "--overwrite-if-exists", "-o", str(scratch / "generate"), "."],
                   env={"JUPYTERHUB_TEMPLATE_SKIP_DOCKER": "1"})
        for _ in range(settings["repeats"])]}
    suites = []
    with contextlib.suppress(FileNotFoundError, ElementTree.ParseError):
        suite = ElementTree.parse(TEMPLATE_DIR / "build" / "fast-tests.xml").getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        suites.append({"seconds": round(float(suite.get("time")), 1), "tests": int(suite.get("tests")),
                       "failures": int(suite.get("failures")) + int(suite.get("errors"))})
    results["template"]["fast_suite"] = suites


def bench_footprint(settings, results, site, hub):
    samples = []
    for _ in range(settings["repeats"]):
        samples.append(hub_load.site_footprint(site))
        time.sleep(2)
    results["footprint"] = {"idle": samples, "user_idle_mb": [
        hub_load.user_footprint(hub, f"mem{index}") for index in range(settings["repeats"])]}


def bench_single(settings, results, hub, image):
    single = results["single"] = {"plain_http_s": [], "ready_s": [], "first_reply_s": []}
    for index in range(settings["repeats"]):
        single["plain_http_s"].append(round(limits.plain_runs_at_once(image, NETWORK, 1)[0][0], 2))
        figures = hub_load.first_kernel(hub, f"one{index}")
        single["ready_s"].append(figures["ready"])
        single["first_reply_s"].append(figures["first_reply"])


def bench_nginx(settings, results, hub):
    runs = [hub_load.through_nginx_vs_direct(hub, f"ws{index}", settings["rounds"]) for index in range(settings["repeats"])]
    results["nginx"] = {key: [round(figures[key] * 1000, 3) for figures in runs] for key in runs[0]}


def bench_browser(settings, results, site, hub, scratch):
    results["browser"] = [browser_login.login_to_first_output(site, hub, f"web{index}", scratch / f"chromium-{index}")
                          for index in range(settings["repeats"])]


def plain_storm(image, size):
    seconds, cpu = limits.plain_runs_at_once(image, NETWORK, size)
    return limits.summary(seconds, size, cpu)


def compare_size(settings):
    return 20 if 20 in settings["sizes"] else settings["sizes"][-1]


def storm_repeats(settings, size):
    return settings["storm_repeats"].get(size, settings["default_storm_repeats"])


def bench_storms(settings, results, site, hub, image):
    results["storms"] = storms = {}
    for size in settings["sizes"]:
        entry = storms[str(size)] = {"hub": [], "plain": [], "busy_before": []}
        for repeat in range(storm_repeats(settings, size)):
            entry["busy_before"].append(cpu_profile.busy_cores())
            entry["plain"].append(plain_storm(image, size))
            footprint = (lambda: hub_load.site_footprint(site)) if size == 20 else None
            entry["hub"].append(hub_load.storm(hub, size, f"s{size}r{repeat}", footprint=footprint))
            print(f"bench: {size} at once, run {repeat + 1}: plain {entry['plain'][-1]}, hub {entry['hub'][-1]}", flush=True)


def bench_compare(settings, results, site, image):
    """The storm again with one setting changed (the tuning's before/after)."""
    results["compare"] = compared = {}
    size = compare_size(settings)
    for number, change in enumerate(settings["compare"]):
        change = change.format(size=size)  # SPAWN_QUEUE_WIDTH={size}: the queue admits everyone at once
        key, _, value = change.partition("=")
        original = site.env[key]
        set_env(site, **{key: value})
        site.make("up")
        try:
            hub = hub_load.Hub(site)
            entry = compared[change] = {"size": size, "hub": [], "plain": []}
            for repeat in range(settings["compare_repeats"]):
                entry["plain"].append(plain_storm(image, size))
                entry["hub"].append(hub_load.storm(hub, size, f"c{number}n{size}r{repeat}"))
        finally:
            set_env(site, **{key: original})
            site.make("up")


def bench_up(settings, results, site):
    """`make up` from stopped containers, images present; next to Compose alone starting the same stack."""
    up = results["up"] = {"make_up_s": [], "compose_up_s": []}
    for _ in range(settings["repeats"]):
        site.compose("down")
        up["compose_up_s"].append(seconds_of(["docker", "compose", "up", "-d", "--wait"], cwd=site.path))
        site.compose("down")
        up["make_up_s"].append(seconds_of(["make", "up"], cwd=site.path))


def measure_section(section, measure, results):
    """One section; a failure is reported (and fails the run at the end) without losing the others."""
    started = time.monotonic()
    try:
        measure()
    except Exception as error:  # the report names it; the exit status fails the run
        traceback.print_exc()
        results.setdefault("errors", {})[section] = f"{type(error).__name__}: {str(error)[:300]}"
    print(f"bench: {section} took {time.monotonic() - started:.0f} s", flush=True)


def machine_facts(mode):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=TEMPLATE_DIR, capture_output=True, text=True).stdout.strip()
    engine = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True).stdout.strip()
    return {"mode": mode, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "cpus": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "kernel": platform.release(), "docker": engine, "load_at_start": os.getloadavg()[0]}


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="small settings, report into build/bench/ (CI)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--sizes", help="users at once, e.g. 5,10,20,50")
    parser.add_argument("--report-dir", type=Path, help="where benchmarks.md and benchmarks.png go")
    return parser.parse_args()


def measure_site(settings, sections, results, scratch, image):
    """Every section that needs a running deployment, on one bench site."""
    phase_times = {}
    lifecycle = site_lifecycle(TempDirs(scratch), phase_times, "bench", SITE_CONTEXT, env=SITE_ENV,
                               before_up=add_to_userlist(user_names(settings)))
    site = next(lifecycle)
    try:
        hub = hub_load.Hub(site)
        measures = {
            "footprint": lambda: bench_footprint(settings, results, site, hub),
            "single": lambda: bench_single(settings, results, hub, image),
            "nginx": lambda: bench_nginx(settings, results, hub),
            "browser": lambda: bench_browser(settings, results, site, hub, scratch),
            "storms": lambda: bench_storms(settings, results, site, hub, image),
            "compare": lambda: bench_compare(settings, results, site, image),
            "up": lambda: bench_up(settings, results, site),
        }
        for section in SECTIONS:
            if section in sections and section in measures:
                measure_section(section, measures[section], results)
    finally:
        results["phases"] = phase_times
        lifecycle.close()
        limits.remove_plain_containers()


def main():
    arguments = parse_arguments()
    mode = "short" if arguments.short else "full"
    settings = dict(SETTINGS[mode])
    if arguments.sizes:
        settings["sizes"] = [int(size) for size in arguments.sizes.split(",")]
    sections = arguments.sections.split(",")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        sys.exit(f"bench: unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    report_dir = arguments.report_dir or settings["report_dir"]
    scratch = TEMPLATE_DIR / "build" / "bench" / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine_facts(mode), "settings": {key: value for key, value in settings.items() if key != "report_dir"}}
    if "template" in sections:
        measure_section("template", lambda: bench_template(settings, results, scratch), results)
    if set(sections) - {"template"}:
        measure_site(settings, sections, results, scratch, notebook_ref("base-notebook"))

    output = TEMPLATE_DIR / "build" / "bench" / "results.json"
    output.write_text(json.dumps(results, indent=2))
    report.write(results, report_dir)
    print(f"bench: figures in {output}; report in {report_dir / 'benchmarks.md'}")
    if results.get("errors"):
        sys.exit(f"bench: these sections failed: {', '.join(results['errors'])} (details above and in the report)")


if __name__ == "__main__":
    main()
