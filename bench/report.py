"""docs/benchmarks.md and docs/benchmarks.png from build/bench/results.json (bench/run.py writes both).

    python bench/report.py [results.json] [report-dir]   # again, e.g. after editing bench/notes.md
"""

import json
import statistics
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
NOTES = BENCH_DIR / "notes.md"


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def spread(values, digits=1):
    """'median (min–max, n runs)' of repeated runs."""
    values = [value for value in values if value is not None]
    if not values:
        return "—"
    text = f"{statistics.median(values):.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):.{digits}f}–{max(values):.{digits}f}, {len(values)} runs)"
    else:
        text += " (1 run)"
    return text


def ratio(value, limit):
    return None if value is None or not limit else value / limit


def verdict(value, bound):
    if value is None:
        return "not measured"
    return "met" if value <= bound else "**missed**"


def storm_rows(storms):
    rows = []
    for size, entry in sorted(storms.items(), key=lambda item: int(item[0])):
        hub, plain = entry["hub"], entry["plain"]
        plain_max = median([run["max"] for run in plain])
        rows.append({
            "size": int(size),
            "ok": f"{min(run['ok'] for run in hub)}–{max(run['ok'] for run in hub)}/{size}" if len(hub) > 1 else f"{hub[0]['ok']}/{size}",
            "plain_ok": f"{min(run['ok'] for run in plain)}/{size}",
            "p50": median([run["p50"] for run in hub]), "p95": median([run["p95"] for run in hub]),
            "max": median([run["max"] for run in hub]),
            "plain_p50": median([run["p50"] for run in plain]), "plain_max": plain_max,
            "api_max": max((run.get("api_max") or 0) for run in hub) if hub else None,
            "cells": [spread([run[key] for run in hub]) for key in ("p50", "p95", "max")]
                     + [spread([run[key] for run in plain]) for key in ("p50", "p95", "max")],
            "all_ok": all(run["ok"] == int(size) for run in hub),
            "busy": max(entry.get("busy_before", []), default=None),
        })
    return rows


def cpu_rows(storms):
    rows = []
    for size, entry in sorted(storms.items(), key=lambda item: int(item[0])):
        for kind, label in (("plain", "plain `docker run`"), ("hub", "the deployment")):
            runs = [run["cpu"] for run in entry[kind] if run.get("cpu")]
            if not runs:
                continue
            keys = ("wall", "users", "hub", "nginx", "engine", "other", "machine")
            cpu = {key: median([run.get(key, 0.0) for run in runs]) for key in keys}
            rows.append(f"| {size} | {label} | {cpu['wall']:.1f} | {cpu['users']:.1f} | {cpu['users'] / int(size):.2f} | "
                        f"{cpu['hub']:.1f} | {cpu['nginx']:.1f} | {cpu['engine']:.1f} | {cpu['other']:.1f} | "
                        f"{cpu['machine'] / cpu['wall']:.2f} |")
    return rows


def targets(results):
    """(target, figure, verdict) for each target of the speed issue that this run measured."""
    lines = []
    single = results.get("single")
    if single:
        value = ratio(median(single["first_reply_s"]), median(single["plain_http_s"]))
        lines.append(("one user's first kernel ≤ 1.3× plain `docker run` to HTTP 200", f"{value:.2f}×", verdict(value, 1.3)))
    for row in storm_rows(results.get("storms", {})):
        if row["size"] not in (20, 50):
            continue
        size = row["size"]
        lines.append((f"{size} at once: all ready", row["ok"], "met" if row["all_ok"] else "**missed**"))
        value = ratio(row["p50"], row["plain_max"])
        lines.append((f"{size} at once: p50 ≤ 0.6× plain max", f"{value:.2f}×", verdict(value, 0.6)))
        value = ratio(row["max"], row["plain_max"])
        lines.append((f"{size} at once: max ≤ 1.1× plain max", f"{value:.2f}×", verdict(value, 1.1)))
        if size == 50:
            lines.append(("hub API answers within 2 s during the 50-user storm", f"slowest {row['api_max']:.2f} s",
                          verdict(row["api_max"], 2.0)))
    nginx = results.get("nginx")
    if nginx:
        value = ratio(median(nginx.get("ws_rtt_nginx_container", nginx["ws_rtt_nginx"])), median(nginx["ws_rtt_direct"]))
        lines.append(("WebSocket round trip through nginx ≤ 1.1× direct", f"{value:.2f}×", verdict(value, 1.1)))
    footprint = results.get("footprint")
    if footprint:
        value = median([sample["hub"] + sample["proxy"] + sample["nginx"] for sample in footprint["idle"]])
        lines.append(("hub + proxy + nginx ≤ 300 MB resident at idle", f"{value:.0f} MB", verdict(value, 300)))
    return lines


def header(results):
    machine = results["machine"]
    out = ["# Benchmarks", "",
           "Written by `make bench` (`bench/run.py`); do not edit by hand: explanations go into `bench/notes.md`, "
           "which is copied to the end of this page. Every figure is the median of repeated runs with their "
           "range, next to the machine's limit measured in the same run: plain `docker run`s of the same "
           "notebook image, no hub and no nginx.", "",
           f"Run: {machine['date']}, commit `{machine['commit']}`, {machine['mode']} settings; {machine['cpus']} CPUs, "
           f"{machine['memory_gb']} GiB, Linux {machine['kernel']}, Docker Engine {machine['docker']}, "
           f"load average {machine['load_at_start']:.2f} at the start. Stand-in images (tests/images/).", ""]
    busy = [value for entry in results.get("storms", {}).values() for value in entry.get("busy_before", [])]
    if machine["load_at_start"] > machine["cpus"] or (busy and max(busy) > 0.5):
        out += [f"**Not a quiet machine:** load average {machine['load_at_start']:.1f} at the start, up to "
                f"{max(busy, default=0):.2f} cores busy just before a storm ({machine['cpus']} CPUs); other work "
                "competed for the cores, so storm figures and ratios carry that noise.", ""]
    for section, when in results.get("reruns", {}).items():
        out += [f"The {section} section comes from a later run: {when}.", ""]
    errors = results.get("errors", {})
    if errors:
        out += ["## Sections that failed in this run", ""] + [f"- {section}: {error}" for section, error in errors.items()] + [""]
    return out


def targets_section(results):
    rows = targets(results)
    if not rows:
        return []
    return (["## Targets", "", "| target | this run | |", "|---|---|---|"]
            + [f"| {target} | {figure} | {outcome} |" for target, figure, outcome in rows] + [""])


def storms_section(results, chart_name):
    storms = storm_rows(results.get("storms", {}))
    if not storms:
        return []
    out = ["## Users logging in and starting their servers at the same moment", "",
           "Seconds from the common start to each server ready (the spawn page's progress stream says "
           "\"ready\"); a server counts as ok when it also opens for its user. Plain: the same number of "
           "`docker run`s of the notebook image started at once, each timed to its first HTTP 200, just "
           "before. The hub API answer is the slowest of a user's status and spawn page, asked every half "
           "second during the storm. Busy before: cores something else used in the 2 s before a run (the most of "
           "its runs; 0 is a quiet machine).", "",
           f"![spawn times]({chart_name})", "",
           "| users | ok | p50 | p95 | max | plain p50 | plain p95 | plain max | slowest hub API answer | busy before |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for row in storms:
        busy = "—" if row["busy"] is None else f"{row['busy']:.2f}"
        out.append(f"| {row['size']} | {row['ok']} | " + " | ".join(row["cells"]) + f" | {row['api_max']:.2f} s | {busy} |")
    return out + [""]


def cpu_section(results):
    profiles = cpu_rows(results.get("storms", {}))
    if not profiles:
        return []
    return ["### Where the CPU went", "",
            "CPU seconds from the common start until the last server was ready (medians of runs), from the "
            "kernel's accounting: the users' notebook containers, the hub container (JupyterHub, its proxy, "
            "the culler), nginx, the Docker engine (dockerd, containerd, shims, runc) and the rest of the "
            "machine. Cores busy: all of it divided by the wall time; this machine has "
            f"{results['machine']['cpus']}.", "",
            "| users | started by | wall | notebook containers | per start | hub | nginx | engine | other | cores busy |",
            "|---|---|---|---|---|---|---|---|---|---|"] + profiles + [""]


def single_section(results):
    single = results.get("single")
    if not single:
        return []
    return ["## One user", "", "| figure | seconds | limit (plain `docker run` to HTTP 200) |", "|---|---|---|",
            f"| login → server ready | {spread(single['ready_s'], 2)} | {spread(single['plain_http_s'], 2)} |",
            f"| login → server ready → kernel → first `execute_reply` | {spread(single['first_reply_s'], 2)} | |", ""]


def browser_section(results):
    browser = results.get("browser")
    if not browser:
        return []
    return ["## A browser (headless Chromium)", "", "| figure | seconds |", "|---|---|",
            f"| login form → JupyterLab's launcher | {spread([run['login_to_lab_s'] for run in browser])} |",
            f"| login form → first cell output | {spread([run['login_to_output_s'] for run in browser])} |", ""]


def nginx_section(results):
    nginx = results.get("nginx")
    if not nginx:
        return []
    out = ["## nginx and TLS in front", "",
           f"Medians of {results['settings']['rounds']} round trips per run, in milliseconds: through nginx with TLS "
           "at its container's address (as clients on the network reach it: the host forwards the port in the "
           "kernel), through the published port from the host itself (Docker's userland proxy copies every byte "
           "once more), and straight to the hub's proxy on the private network (plain HTTP). Ratio: nginx at its "
           "address to direct.", "",
           "| figure | through nginx | through the published port | direct | ratio |", "|---|---|---|---|---|"]
    for key, label in (("ws_rtt", "kernel WebSocket execute round trip"), ("static", "largest static script of the login page")):
        through = nginx.get(f"{key}_nginx_container")
        published, direct = nginx[f"{key}_nginx"], nginx[f"{key}_direct"]
        value = ratio(median(through or published), median(direct))
        out.append(f"| {label} | {spread(through or [], 2)} | {spread(published, 2)} | {spread(direct, 2)} | {value:.2f}× |")
    return out + [""]


def memory_section(results):
    footprint = results.get("footprint")
    if not footprint:
        return []
    idle = footprint["idle"]
    busy = [run["footprint"] for run in results.get("storms", {}).get("20", {}).get("hub", []) if run.get("footprint")]
    out = ["## Memory (resident, MB)", "", "| process | idle | with 20 users running |", "|---|---|---|"]
    processes = (("hub", "hub (JupyterHub and the idle culler)"), ("proxy", "proxy (configurable-http-proxy)"), ("nginx", "nginx"))
    for key, label in processes:
        out.append(f"| {label} | {spread([sample[key] for sample in idle], 0)} | {spread([sample[key] for sample in busy], 0)} |")
    return out + [f"| one user's server at idle (no kernel) | {spread(footprint['user_idle_mb'], 0)} | |", ""]


def compare_row(label, entry, size):
    hub = entry["hub"]
    return (f"| {label} | {min(run['ok'] for run in hub)}/{size} | {spread([run['p50'] for run in hub])} | "
            f"{spread([run['max'] for run in hub])} | {spread([run['max'] for run in entry['plain']])} |")


def compare_section(results):
    compare = results.get("compare")
    if not compare:
        return []
    size = next(iter(compare.values()))["size"]
    out = [f"## Settings compared (the {size}-user storm again with one change)", "",
           "| setting | ok | p50 | max | plain max |", "|---|---|---|---|---|"]
    base = results.get("storms", {}).get(str(size))
    if base:
        out.append(compare_row("the defaults", base, size))
    out += [compare_row(f"`{change}`", entry, size) for change, entry in compare.items()]
    return out + [""]


def template_section(results):
    template, up = results.get("template"), results.get("up")
    if not (template or up):
        return []
    out = ["## The template and `make up`", "", "| figure | seconds | limit |", "|---|---|---|"]
    if template:
        out.append(f"| generate a deployment with the defaults (`cookiecutter --no-input`) | {spread(template['generate_s'], 2)} | |")
        for suite in template.get("fast_suite", []):
            out.append(f"| the fast test suite as `make test` last ran it ({suite['tests']} tests, {suite['failures']} failed) "
                       f"| {suite['seconds']:.0f} (1 run) | |")
    if up:
        out.append(f"| `make up` to healthy, images present | {spread(up['make_up_s'])} | "
                   f"{spread(up['compose_up_s'])} (`docker compose up -d --wait` alone) |")
    return out + [""]


def markdown(results, chart_name):
    out = (header(results) + targets_section(results) + storms_section(results, chart_name) + cpu_section(results)
           + single_section(results) + browser_section(results) + nginx_section(results) + memory_section(results)
           + compare_section(results) + template_section(results))
    if NOTES.exists():
        out += [NOTES.read_text().rstrip(), ""]
    return "\n".join(out)


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    storms = storm_rows(results.get("storms", {}))
    if not storms:
        return False
    figure, axes = pyplot.subplots(figsize=(8, 4.5), dpi=110)
    sizes = [row["size"] for row in storms]
    for key, label, style in (("p50", "deployment p50", "o-"), ("max", "deployment max", "s-"),
                              ("plain_p50", "plain docker run p50", "o--"), ("plain_max", "plain docker run max", "s--")):
        axes.plot(sizes, [row[key] for row in storms], style, label=label)
    axes.set_xlabel("users starting at the same moment")
    axes.set_ylabel("seconds to ready (median of runs)")
    axes.set_xticks(sizes)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(f"Spawn storms on {results['machine']['cpus']} CPUs ({results['machine']['date']})")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return True


def write(results, directory):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chart(results, directory / "benchmarks.png")
    (directory / "benchmarks.md").write_text(markdown(results, "benchmarks.png"))


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else BENCH_DIR.parent / "build" / "bench" / "results.json"
    write(json.loads(source.read_text()), sys.argv[2] if len(sys.argv) > 2 else BENCH_DIR.parent / "docs")
