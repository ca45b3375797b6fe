"""Draw the documentation's pictures (docs/img/*.png) from the benchmarks' JSON output.

    pip install -e '.[plots]'
    python -m benchmarks.plots [--results benchmarks/results] [--out docs/img]

Each picture comes from one file of --results, written by a real run of its benchmark:

    event_to_restart.json    python -m benchmarks.event_to_restart --containers 10,50
                                 --paths event --repeats 2
                                 --json benchmarks/results/event_to_restart.json
    autoscaler_replay.json   python -m benchmarks.autoscaler_replay
                                 --json benchmarks/results/autoscaler_replay.json
    backoff_timeline.json    python -m benchmarks.backoff_timeline
                                 --json benchmarks/results/backoff_timeline.json
    boot_timeline.json       python -m benchmarks.boot_timeline (root: a private dockerd)
                                 --json benchmarks/results/boot_timeline.json

A missing file is reported and its picture skipped; the others are still drawn.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
DPI = 80  # small files: these go into the repository


def _cdf(values: list[float]) -> tuple[list[float], list[float]]:
    xs = sorted(values)
    return xs, [(i + 1) / len(xs) for i in range(len(xs))]


def event_to_repair(data: dict[str, Any], out: Path) -> None:
    runs = [r for r in data["runs"] if r["path"] == "event path"] or data["runs"]
    run = max(runs, key=lambda r: r["containers"])
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=DPI)
    for values, label, style in (
        (run["latencies"], "compose-healer: unhealthy event → restarted", "-"),
        (run["floor"], "the engine alone restarting the same containers", "--"),
    ):
        xs, ys = _cdf(values)
        ax.step(xs, ys, style, where="post", label=label)
    ratio = max(run["latencies"]) / max(run["floor"])
    ax.set_title(
        f"{run['containers']} containers unhealthy at once: slowest repair {ratio:.2f}× "
        "the engine's floor"
    )
    ax.set_xlabel("seconds")
    ax.set_ylabel("share of containers")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, out / "event-to-repair-cdf.png")


def burst(data: dict[str, Any], out: Path) -> None:
    pattern = data["patterns"]["burst"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.4), dpi=DPI, sharex=True)
    for label, name in (("hpa+trigger", "compose-healer"), ("naive", "one-step threshold scaler")):
        series = pattern[label]["series"]
        t = [s[0] for s in series]
        top.plot(t, [s[1] for s in series], label=name)
        bottom.step(t, [s[2] for s in series], where="post", label=name)
    top.set_ylabel("tasks waiting")
    bottom.set_ylabel("replicas")
    bottom.set_xlabel("seconds (load ×10 from 300 s to 1200 s)")
    top.set_title("A burst: backlog and replicas (the real scaling decision, replayed)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    top.legend(fontsize="small")
    _save(fig, out / "burst.png")


def backoff(data: dict[str, Any], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=DPI)
    dies = [e["t"] for e in data["timeline"] if e["action"] == "die"]
    starts = [e["t"] for e in data["timeline"] if e["action"] == "start"]
    ups, repairs = [t for t in starts if t < 0], [t for t in starts if t >= 0]
    ax.scatter(dies, [0] * len(dies), marker="x", color="tab:red", label="exits", zorder=3)
    ax.scatter(repairs, [1] * len(repairs), marker="^", color="tab:green", label="healer starts it")
    ax.scatter(ups, [1] * len(ups), marker="o", color="tab:gray", label="docker compose up")
    for before, after in itertools.pairwise(repairs):
        ax.annotate(f"{after - before:.1f} s", ((before + after) / 2, 1.2), ha="center", fontsize=8)
    quarantined = [d["t"] for d in data["decisions"] if d.get("outcome") == "quarantined"]
    if quarantined:
        ax.axvline(min(quarantined), color="black", linestyle=":", label="quarantined")
    ax.set_yticks([0, 1], ["container", "start"])
    ax.set_ylim(-0.6, 2.4)
    ax.set_xlabel("seconds after the first exit")
    ax.set_title(
        f"A crash loop: cooldown {data['cooldown']:g} s doubling, "
        f"quarantined after {data['attempts']} repairs"
    )
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small", ncols=4)
    _save(fig, out / "backoff.png")


def _running(events: list[dict[str, Any]], service: str, end: float) -> list[tuple[float, float]]:
    spans, since = [], None
    for e in (e for e in events if e["service"] == service and e["t"] > -1.5):
        if e["action"] == "start" and since is None:
            since = e["t"]
        elif e["action"] == "die" and since is not None:
            spans.append((since, e["t"] - since))
            since = None
    if since is not None:
        spans.append((since, end - since))
    return spans


def boot_timeline(data: dict[str, Any], out: Path) -> None:
    services = ["worker", "app", "migrate", "db"]
    end = max(e["t"] for e in data["without"] + data["with"]) + 2
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.2), dpi=DPI, sharex=True)
    titles = {"without": "the engine alone (restart policy)", "with": "with compose-healer"}
    for ax, key in zip(axes, ("without", "with"), strict=True):
        events = data[key]
        for row, service in enumerate(services):
            ax.broken_barh(_running(events, service, end), (row - 0.3, 0.6), color="tab:blue")
            for e in events:
                if e["service"] != service or e["t"] < -1.5:
                    continue
                if e["action"] == "health_status: healthy":
                    ax.plot(e["t"], row, marker="*", color="tab:green", markersize=11)
                elif e["action"] == "die" and e["exit"] == "0" and service == "migrate":
                    ax.plot(e["t"], row, marker="o", color="tab:orange")
        ax.set_yticks(range(len(services)), services)
        ax.set_title(titles[key], fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    axes[1].set_xlim(-1.5, end)
    axes[1].set_xlabel(
        "seconds after the engine answered again (bars: running; ★ healthy; ● exit 0)"
    )
    fig.suptitle("After an engine restart: db healthy → migrate exit 0 → app → worker")
    _save(fig, out / "boot-timeline.png")


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


PLOTS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "event_to_restart.json": event_to_repair,
    "autoscaler_replay.json": burst,
    "backoff_timeline.json": backoff,
    "boot_timeline.json": boot_timeline,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/img")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    missing = 0
    for name, draw in PLOTS.items():
        source = args.results / name
        if not source.exists():
            print(f"skipped: no {source} (see this module's docstring for its command)")
            missing += 1
            continue
        draw(json.loads(source.read_text(encoding="utf-8")), args.out)
    return 1 if missing == len(PLOTS) else 0


if __name__ == "__main__":
    sys.exit(main())
