"""Time from Docker's `health_status: unhealthy` event to the repair's `start` event, for N
containers failing at once: the healer's event path vs its reconcile-only path, in one run.

    python -m benchmarks.event_to_restart --containers 50,100 [--paths event,previous,reconcile]
        [--repeats K] [--redis-url redis://127.0.0.1:6379/14]

For each N: per path median and max, and each path's max against its engine floor's max:
the engine alone restarting the same N containers in parallel (same healthchecks running,
same engine state), measured right after the path with the healer stopped; then the ratio
reconcile/event. `previous` is the event path with the defaults before the adaptive repair
limit (8 prefork processes, a fixed cap of 8). Creates a compose project of N services from
the busybox test image per path and removes it (and the healer processes) at the end.

Every service of the project fails explicitly (its check exits non-zero at once), so the
repair-storm brake, which engages only on evidence of overload (checks that time out, an
engine far slower than its best, host CPU/IO pressure), stays off on an idle host: the paths
run with the default settings. `--no-storm-brake` turns the brake off entirely
(HEALER_STORM_MIN_SERVICES above N), to tell the brake's part from the repair path's on a
host that is busy with other work. Each path prints the time per container (median, max)
and the total: from the first unhealthy event to the last repair's start.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from healer.adapters.overload.pressure import read_pressure  # noqa: E402
from healer.adapters.store import keys  # noqa: E402
from healer.adapters.store.history import History  # noqa: E402
from healer.core.model import HostId  # noqa: E402
from tests.support import (  # noqa: E402
    ComposeProject,
    EventRecorder,
    compose_yaml,
    ensure_test_image,
    healthy_service_yaml,
    unique_project_name,
)
from tests.support.healer import HealerStack  # noqa: E402

# The defaults before the adaptive limit: 8 prefork processes, a fixed cap of 8 repairs.
PREVIOUS = {
    "HEALER_WORKER_POOL": "prefork",
    "HEALER_WORKER_CONCURRENCY": "8",
    "HEALER_REPAIR_ADAPTIVE": "false",
    "HEALER_REPAIR_CONCURRENCY": "8",
}


def run_path(
    client: docker.DockerClient,
    image: str,
    n: int,
    redis_url: str,
    events: bool,
    interval: str,
    extra: dict[str, str] | None = None,
    brake: bool = False,
    check_interval: str = "5s",
) -> tuple[list[float], list[float]]:
    """(event → restart latencies, the engine's own parallel restart of the same containers)

    `check_interval`: the services' healthcheck interval. Each check is a `docker exec`: fifty
    services checked every second keep two cores busy on their own (PSI cpu some 80-90 %
    here), which is host pressure, evidence of overload the storm brake rightly acts on."""
    redis.Redis.from_url(redis_url).flushdb()
    name = unique_project_name("bench")
    tmp = Path(tempfile.mkdtemp())
    (tmp / "compose.yml").write_text(
        # Three failed checks before `unhealthy`: under a 50-container load a single slow
        # check must not flap a container and start the clock early.
        # A generous check timeout: on a loaded machine `docker exec` itself can take seconds,
        # and a check that times out would fail (and be repaired) before the benchmark acts.
        compose_yaml(
            *(
                healthy_service_yaml(
                    image, f"s{i}", retries=3, timeout="10s", interval=check_interval
                )
                for i in range(n)
            )
        )
    )
    project = ComposeProject(name=name, dir=tmp, file=tmp / "compose.yml", client=client)
    stack = HealerStack(
        env={
            **os.environ,
            "REDIS_URL": redis_url,
            "HEALER_PROJECTS": name,
            "WATCHDOG_INTERVAL": interval,
            "HEALER_LOG_DIR": str(tmp / "logs"),
            "PYTHONUNBUFFERED": "1",
            **({} if brake else {"HEALER_STORM_MIN_SERVICES": str(n + 1)}),
            **(extra or {}),
        },
        log_dir=tmp,
    )
    try:
        project.up(wait=True)
        stack.worker(concurrency=None)  # the settings decide (HEALER_WORKER_CONCURRENCY)
        if events:
            stack.events()
        else:
            stack.beat()
        settle()
        rec = EventRecorder(client, name)
        for c in project.containers():
            subprocess.Popen(["docker", "exec", c.id, "rm", "/tmp/healthy"])
        lat, first, last = [], float("inf"), 0.0
        for i in range(n):
            svc = f"s{i}"
            first_bad = rec.wait_for("health_status: unhealthy", svc, timeout=30)[0]["time_ns"]
            start = first_start_after(rec, svc, first_bad, timeout=120)
            # The unhealthy event this start repaired: the last one before it.
            bad = max(
                e["time_ns"]
                for e in rec.events("health_status: unhealthy", svc)
                if e["time_ns"] < start
            )
            lat.append((start - bad) / 1e9)
            first, last = min(first, bad / 1e9), max(last, start / 1e9)
        rec.stop()
        print(f"  total: first unhealthy to last repair start {last - first:.2f}s", flush=True)
        # The limit of this machine's host (HEALER_HOST, by default the hostname).
        host = HostId(os.environ.get("HEALER_HOST") or socket.gethostname())
        r = redis.Redis.from_url(redis_url, decode_responses=True)
        limit = r.hgetall(keys.repair_limit(host))
        if limit:
            print(f"  repair limit after the run: {float(limit['limit']):.1f}", flush=True)
        notes = [e for e in History(r, 10_000).query(service="host") if e.reason == "storm_brake"]
        braked = sum(1 for e in History(r, 10_000).query() if e.reason == "storm_brake")
        print(f"  storm brake: {braked} records; {notes[0].detail if notes else 'never engaged'}")
        stack.stop_all()
        # The floor on the very same containers, right away: same healthchecks running, same
        # engine state, the machine's load of the same minute.
        return lat, restart_all(client, [c.id for c in project.containers()])
    finally:
        stack.stop_all()
        # Stopped before removed: Debian's engine 20.10 panics (a nil container in
        # ContainerExecStart) when a container is removed while its healthcheck's exec is
        # starting, which `down` of 100 checked containers on a busy machine often hits.
        try:
            project.run("stop", "-t", "0", check=False)
        except subprocess.TimeoutExpired:
            print("  compose stop timed out; removing anyway", flush=True)
        project.down()


def cpu_pressure() -> float:
    """Host CPU pressure now (PSI cpu some avg10, %), as the healer reads it; 0 without PSI."""
    return read_pressure().cpu_some or 0.0


def settle(below: float = 20.0, timeout: float = 90.0) -> None:
    """Wait for the host to be idle again after `up` started N containers: the failures must
    meet a host not under pressure (else the storm brake rightly slows their repairs)."""
    deadline = time.monotonic() + timeout
    while cpu_pressure() >= below and time.monotonic() < deadline:
        time.sleep(1)
    print(
        f"  CPU pressure (PSI some avg10) as the services fail: {cpu_pressure():.0f}%", flush=True
    )


def first_start_after(rec: EventRecorder, svc: str, after_ns: int, timeout: float) -> int:
    """The repair's `start`: the first one after the unhealthy event (on a loaded machine a
    healthcheck may time out, fail and be repaired before the benchmark breaks it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        starts = [e["time_ns"] for e in rec.events("start", svc) if e["time_ns"] > after_ns]
        if starts:
            return int(min(starts))
        time.sleep(0.05)
    raise AssertionError(f"{svc}: no start within {timeout}s after its unhealthy event")


def restart_all(client: docker.DockerClient, ids: list[str]) -> list[float]:
    """The engine alone restarting `ids` in parallel: what no healer can beat."""
    import concurrent.futures

    # A patient client: on a loaded machine 100 parallel restarts can outlast the default 60 s.
    # One pooled connection per thread, so no restart waits for another's socket.
    patient = docker.from_env(timeout=600, max_pool_size=len(ids))

    def restart(cid: str) -> float:
        t = time.perf_counter()
        patient.api.restart(cid, timeout=10)
        return time.perf_counter() - t

    try:
        with concurrent.futures.ThreadPoolExecutor(len(ids)) as pool:
            return list(pool.map(restart, ids))
    finally:
        patient.close()


def stats(lat: list[float]) -> str:
    return f"n={len(lat):3} median={statistics.median(lat):.3f}s max={max(lat):.3f}s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", default="10", help="comma list, e.g. 50,100")
    ap.add_argument("--interval", default="5", help="reconcile interval of the baseline path")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    ap.add_argument(
        "--paths",
        default="event,reconcile",
        help="comma list of: event, reconcile, previous (event path, previous defaults)",
    )
    ap.add_argument(
        "--no-storm-brake",
        dest="storm_brake",
        action="store_false",
        help="turn the repair-storm brake off (default: the default settings, brake on)",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="rounds per size and path, each with its own floor; every round is printed and "
        "the median of the rounds' max ratios summarises them (2 cores make one round noisy)",
    )
    ap.add_argument(
        "--json", type=Path, help="also write every latency and floor here (benchmarks/plots.py)"
    )
    ap.add_argument(
        "--check-interval",
        default="5s",
        help="the services' healthcheck interval (compose duration); 1s checks of 50 services "
        "are themselves CPU pressure on a 2-core host, 5s leave it idle",
    )
    args = ap.parse_args()
    results: list[dict[str, object]] = []
    client = docker.from_env()
    image, _ = ensure_test_image(client)
    paths = args.paths.split(",")
    for n in (int(x) for x in args.containers.split(",")):
        ratios: dict[str, list[float]] = {}
        for round_ in range(1, args.repeats + 1):
            runs = run_round(client, image, n, args, paths)
            print(
                f"--- {n} containers failing at once, round {round_}/{args.repeats} "
                f"(load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            for label, (lat, floor) in runs.items():
                ratio = max(lat) / max(floor)
                ratios.setdefault(label, []).append(ratio)
                results.append(
                    {
                        "containers": n,
                        "round": round_,
                        "path": label,
                        "latencies": lat,
                        "floor": floor,
                        "load_average": os.getloadavg()[0],
                    }
                )
                print(f"{label:28} {stats(lat)}  vs its floor: max {ratio:.2f}x")
                print(f"{'  engine floor, same ones':28} {stats(floor)}", flush=True)
            if "event path" in runs and "reconcile" in paths:
                ev, rc = runs["event path"][0], runs[f"reconcile only ({args.interval}s)"][0]
                median = statistics.median(rc) / statistics.median(ev)
                print(f"ratio reconcile/event: median {median:.1f}x, max {max(rc) / max(ev):.1f}x")
        if args.repeats > 1:
            for label, values in ratios.items():
                listed = ", ".join(f"{r:.2f}" for r in values)
                print(
                    f"=== {n}, {label}: max vs floor, median of {len(values)} rounds "
                    f"{statistics.median(values):.2f}x ({listed})",
                    flush=True,
                )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "event_to_restart", "runs": results}))


def run_round(
    client: docker.DockerClient, image: str, n: int, args: argparse.Namespace, paths: list[str]
) -> dict[str, tuple[list[float], list[float]]]:
    runs: dict[str, tuple[list[float], list[float]]] = {}
    brake, check = args.storm_brake, args.check_interval
    if "event" in paths:
        runs["event path"] = run_path(
            client, image, n, args.redis_url, True, "60", brake=brake, check_interval=check
        )
    if "previous" in paths:
        runs["event, previous defaults"] = run_path(
            client,
            image,
            n,
            args.redis_url,
            True,
            "60",
            PREVIOUS,
            brake=brake,
            check_interval=check,
        )
    if "reconcile" in paths:
        runs[f"reconcile only ({args.interval}s)"] = run_path(
            client,
            image,
            n,
            args.redis_url,
            False,
            args.interval,
            brake=brake,
            check_interval=check,
        )
    return runs


if __name__ == "__main__":
    main()
