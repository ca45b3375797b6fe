"""Redis cost of one cluster healing many hosts: the reconcile fan-out per host per cycle.

    python -m benchmarks.fanout [--hosts 50] [--services 20] [--containers 2] [--cycles 3]
                                [--redis-url redis://127.0.0.1:6379/13]

Simulates HOSTS agents against one Redis. A cycle is one WATCHDOG_INTERVAL (30 s by default)
and runs, with the real healer code:

- heartbeats: each host's agent heartbeats WATCHDOG_INTERVAL / HEALER_HEARTBEAT_INTERVAL times;
- fan-out: the active beat sends one reconcile task to each live host's queue
  (beat.scheduler.ResilientScheduler.apply_async, the production code path);
- transport: a real Celery worker (in-process, solo pool) takes each task off its queue,
  acks it and sends task events (the task body is a no-op here; its cost is the next item);
- reconcile: each host's probe of SERVICES × CONTAINERS containers (healer.engine.probe
  .reconcile against a simulated engine, resource sampling on with synthetic samples).

It is also run at twice the containers to give the cost per extra container. Redis is
measured, not the client: operations from INFO commandstats (calls, and the server's own
microseconds), bytes from INFO stats (total_net_input_bytes / total_net_output_bytes). By
default a private redis-server on a free 127.0.0.1 port is started (and stopped) so nothing
else's traffic is counted; with --redis-url the server must be otherwise idle.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from celery.signals import heartbeat_sent  # noqa: E402

from beat import schedule  # noqa: E402
from beat.scheduler import ResilientScheduler  # noqa: E402
from healer.adapters.queue import PROBE_ALL, CeleryDispatcher, make_celery  # noqa: E402
from healer.adapters.store.connection import connect  # noqa: E402
from healer.adapters.store.hosts import HostRegistry  # noqa: E402
from healer.adapters.store.stores import Stores  # noqa: E402
from healer.core.model import (  # noqa: E402
    ContainerId,
    ContainerView,
    HostId,
    ServiceId,
    ServiceView,
)
from healer.core.queues import host_queues  # noqa: E402
from healer.core.resources import ResourceSample  # noqa: E402
from healer.engine.context import Healer  # noqa: E402
from healer.engine.probe import reconcile  # noqa: E402
from healer.settings import Settings  # noqa: E402


@dataclass
class Cost:
    ops: float = 0.0
    usec: float = 0.0
    bytes_in: float = 0.0
    bytes_out: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.ops + other.ops,
            self.usec + other.usec,
            self.bytes_in + other.bytes_in,
            self.bytes_out + other.bytes_out,
        )

    def scaled(self, k: float) -> Cost:
        return Cost(self.ops * k, self.usec * k, self.bytes_in * k, self.bytes_out * k)


class Meter:
    """Server-side counters before and after a block: INFO commandstats and INFO stats."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def read(self) -> Cost:
        stats = self.r.info("commandstats")
        net = self.r.info("stats")
        # The meter's own INFO calls are left out.
        calls = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
        usec = sum(v["usec"] for k, v in stats.items() if k != "cmdstat_info")
        return Cost(calls, usec, net["total_net_input_bytes"], net["total_net_output_bytes"])

    @contextlib.contextmanager
    def measure(self, out: list[Cost]) -> Iterator[None]:
        before = self.read()
        yield
        after = self.read()
        out.append(
            Cost(
                after.ops - before.ops,
                after.usec - before.usec,
                after.bytes_in - before.bytes_in,
                after.bytes_out - before.bytes_out,
            )
        )


class SimEngine:
    """What the Docker list call would return for one host: healthy running services."""

    def __init__(self, host: str, services: int, containers: int) -> None:
        self.client = None
        self.views: dict[ServiceId, ServiceView] = {}
        for s in range(services):
            sid = ServiceId(f"app{s % 4}/svc{s}")
            project, service = sid.split("/")
            cs = tuple(
                ContainerView(
                    id=ContainerId(f"{host}-{s:04d}-{n:03d}".ljust(64, "0")),
                    name=f"{project}-{service}-{n + 1}",
                    project=project,
                    service=service,
                    number=n + 1,
                    state="running",
                    health="healthy",
                    exit_code=0,
                )
                for n in range(containers)
            )
            self.views[sid] = ServiceView(sid, cs)

    def services(self, sid: ServiceId | None = None, **_: Any) -> dict[ServiceId, ServiceView]:
        return dict(self.views)


def synthetic_samples(engine: SimEngine) -> Callable[..., dict[ContainerId, ResourceSample]]:
    def collect(running: list[tuple[ContainerId, Any]]) -> dict[ContainerId, ResourceSample]:
        now = time.time()
        return {
            cid: ResourceSample(cid, now, int(now * 1e7), 1.0, 50 << 20, 256 << 20, 0)
            for cid, _ in running
        }

    return collect


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server not found; pass --redis-url of an idle server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="fanout-redis-")
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", folder]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def redis_capacity(url: str) -> dict[str, float]:
    """What this Redis serves on this machine, now (so the ratio below shares the machine's
    load): redis-benchmark's mean requests/s over the commands the healer mostly sends,
    pipelined by 16 (the probe's pipelines) and one by one (heartbeats, task transport)."""
    parsed = redis.connection.parse_url(url)
    base = ["redis-benchmark", "-h", str(parsed.get("host")), "-p", str(parsed.get("port"))]
    base += ["-q", "-c", "8", "-t", "get,set,lpush,hset,sadd,zadd"]
    out = {}
    for name, extra in (("pipelined", ["-n", "200000", "-P", "16"]), ("single", ["-n", "50000"])):
        text = subprocess.run([*base, *extra], capture_output=True, text=True, check=True).stdout
        rates = [float(m) for m in re.findall(r"([0-9.]+) requests per second", text)]
        out[name] = sum(rates) / len(rates)
    return out


def build_hosts(base: Settings, n: int, services: int, containers: int) -> list[Healer]:
    app = make_celery(base)
    healers = []
    for i in range(n):
        host = HostId(f"sim-{i:04d}")
        settings = base.model_copy(update={"host": host})
        engine = SimEngine(host, services, containers)
        stores = Stores(connect(base.redis_url), settings)
        h = Healer(settings, stores, engine, CeleryDispatcher(app, host))  # type: ignore[arg-type]
        h.resources.collector.collect = synthetic_samples(engine)  # type: ignore[method-assign]
        healers.append(h)
    return healers


def run(args: argparse.Namespace, url: str) -> dict[str, Cost]:
    log_dir = Path(tempfile.mkdtemp(prefix="fanout-logs-"))
    base = Settings(redis_url=url, host="sim-0000", log_dir=log_dir)
    r = redis.Redis.from_url(url)
    meter = Meter(r)
    app = make_celery(base)
    schedule.install(app, base)
    calls = {"n": 0}

    @app.task(name=PROBE_ALL, ignore_result=True)
    def probe_all(host: str = "") -> None:  # the transport only; the probe is measured alone
        calls["n"] += 1

    telemetry = Stores(connect(url), base).telemetry

    @heartbeat_sent.connect
    def worker_alive(**_: Any) -> None:  # what workers.tasks records on each -E heartbeat
        telemetry.worker_alive(f"{socket.gethostname()}:1", time.time())

    sizes = {
        "reconcile": (args.services, args.containers),
        "reconcile 2x services": (2 * args.services, args.containers),
        "reconcile 2x containers": (args.services, 2 * args.containers),
    }
    fleets = {k: build_hosts(base, args.hosts, s, c) for k, (s, c) in sizes.items()}
    healers = fleets["reconcile"]
    registry = HostRegistry(connect(url), base.host_down_after)
    beat = ResilientScheduler(app=app, lazy=True)
    entry = beat.Entry(name="reconcile-all", app=app, **app.conf.beat_schedule["reconcile-all"])
    beats_per_cycle = round(base.watchdog_interval / base.heartbeat_interval)
    costs: dict[str, list[Cost]] = {k: [] for k in ("heartbeats", "send", "deliver", *sizes)}
    idle_one: list[Cost] = []
    fan_wall: list[float] = []
    for fleet in fleets.values():  # warm-up: connections, script loads, first-seen keys
        for h in fleet:
            registry.heartbeat(h.host, {"pid": "1"})
            reconcile(h)
    queues = [q for h in healers for q in host_queues(h.host)]
    beat.apply_async(entry, advance=False)  # warm-up: first sends declare each queue once
    r.delete(*queues)
    for _ in range(args.cycles):
        with meter.measure(costs["heartbeats"]):
            for _ in range(beats_per_cycle):
                for h in healers:
                    registry.heartbeat(h.host, {"pid": "1"})
        started = time.monotonic()
        with meter.measure(costs["send"]):
            beat.apply_async(entry, advance=False)
        fan_wall.append(time.monotonic() - started)
        r.delete(*queues)
        for name in sizes:
            with meter.measure(costs[name]):
                for h in fleets[name]:
                    reconcile(h)
    from celery.contrib.testing.worker import start_worker

    # One host's worker as deployed: its own three queues and the three shared ones, with the
    # Celery event heartbeat (-E) and the healer's record of it. First at rest, then taking
    # HOSTS reconcile tasks sent as beat sends them (the send itself is measured above).
    host0 = healers[0].host
    own = [*host_queues(host0), "healer.probe", "healer.repair", "healer.scale"]
    options = {**entry.options, "queue": f"healer.probe@{host0}", "ignore_result": True}
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=own, without_heartbeat=False
    ):
        time.sleep(1.0)
        with meter.measure(idle_one):
            time.sleep(args.idle)
        for _ in range(args.cycles):
            want = calls["n"] + args.hosts
            started = time.monotonic()
            with meter.measure(costs["deliver"]):
                for _ in range(args.hosts):
                    app.send_task(PROBE_ALL, kwargs={"host": host0}, **options)
                deadline = time.monotonic() + 300
                while calls["n"] < want and time.monotonic() < deadline:
                    time.sleep(0.005)
            if calls["n"] < want:
                raise SystemExit(f"worker consumed {calls['n']} of {want} tasks")
            # Its polling while busy is in the idle figure already: take it out.
            busy = (time.monotonic() - started) / args.idle
            costs["deliver"][-1] = costs["deliver"][-1] + idle_one[0].scaled(-busy)
    per = 1.0 / (args.hosts * args.cycles)
    out = {k: _sum(v).scaled(per) for k, v in costs.items()}
    out["deliver"] = out["deliver"] + out["send"].scaled(-1)  # the worker's side only
    out["idle worker"] = idle_one[0].scaled(base.watchdog_interval / args.idle)
    out["_fan_wall_per_host"] = Cost(ops=sum(fan_wall) / (args.hosts * args.cycles))
    shutil.rmtree(log_dir, ignore_errors=True)
    return out


def _sum(costs: list[Cost]) -> Cost:
    total = Cost()
    for c in costs:
        total = total + c
    return total


def report(args: argparse.Namespace, out: dict[str, Cost]) -> None:
    containers = args.services * args.containers
    print(
        f"{args.hosts} hosts x {args.services} services x {args.containers} containers "
        f"({containers} per host); a cycle is WATCHDOG_INTERVAL 30 s; {args.cycles} cycles\n"
    )
    print(
        f"{'per host per cycle':30} {'ops':>8} {'redis us':>9} {'bytes in':>10} {'bytes out':>10}"
    )
    rows = {
        "agent heartbeats (3)": out["heartbeats"],
        "beat fan-out: send": out["send"],
        "worker: take, ack, events": out["deliver"],
        "reconcile probe": out["reconcile"],
        "idle worker (30 s, -E)": out["idle worker"],
    }
    for name, c in rows.items():
        print(f"{name:30} {c.ops:8.1f} {c.usec:9.0f} {c.bytes_in:10.0f} {c.bytes_out:10.0f}")
    total = _sum(list(rows.values()))
    print(
        f"{'total':30} {total.ops:8.1f} {total.usec:9.0f} "
        f"{total.bytes_in:10.0f} {total.bytes_out:10.0f}"
    )
    # Doubling the services adds services and their containers; doubling containers per
    # service adds containers only: two slopes, and what is left is the per-host base.
    per_c = (out["reconcile 2x containers"] + out["reconcile"].scaled(-1)).scaled(1 / containers)
    per_sc = (out["reconcile 2x services"] + out["reconcile"].scaled(-1)).scaled(1 / args.services)
    per_s = per_sc + per_c.scaled(-args.containers)
    fixed = total + per_s.scaled(-args.services) + per_c.scaled(-containers)
    for label, c in (
        ("per service (without containers)", per_s),
        ("per container", per_c),
        ("per host (no service)", fixed),
    ):
        print(
            f"{label:36} {c.ops:7.2f} ops {c.usec:8.1f} us "
            f"{c.bytes_in:8.0f} B in {c.bytes_out:8.0f} B out"
        )
    cap = out["_capacity"]
    print(
        f"\nthis Redis here and now: {cap.ops:,.0f} requests/s pipelined, "
        f"{cap.usec:,.0f} one by one (redis-benchmark, same run)"
    )
    for services, per_service in ((10, 1), (25, 2), (50, 2), (100, 5)):
        n = services * per_service
        # The probe's commands go in pipelines; the rest (heartbeats, transport, polling)
        # one by one.
        probe_ops = services * per_s.ops + n * per_c.ops
        other_ops = fixed.ops
        load = (probe_ops / cap.ops + other_ops / cap.usec) / 30  # share of Redis per host
        print(
            f"{services:3} services x {per_service} containers per host: "
            f"{(probe_ops + other_ops) / 30:6.1f} ops/s, "
            f"{(per_s.bytes_in * services + per_c.bytes_in * n + fixed.bytes_in) / 30 / 1e3:5.1f}"
            f" kB/s in per host; {0.5 / load:7,.0f} hosts keep Redis under 50%"
        )
    wall = out["_fan_wall_per_host"].ops
    print(
        f"beat fan-out: {wall * 1e3:.2f} ms per host; one beat sends to "
        f"{0.1 * 30 / wall:,.0f} hosts in 10% of the 30 s interval"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--containers", type=int, default=2, help="per service")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle worker")
    parser.add_argument("--redis-url", help="an otherwise idle Redis (default: a private one)")
    args = parser.parse_args()
    if args.redis_url:
        out = run(args, args.redis_url)
        cap = redis_capacity(args.redis_url)
        out["_capacity"] = Cost(ops=cap["pipelined"], usec=cap["single"])
        report(args, out)
        return
    with private_redis() as url:
        out = run(args, url)
        cap = redis_capacity(url)
        out["_capacity"] = Cost(ops=cap["pipelined"], usec=cap["single"])
        report(args, out)


if __name__ == "__main__":
    main()
