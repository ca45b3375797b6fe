"""Cost of one probe's data collection for N containers: the list call plus a resource sample
of every container, read from cgroup files, against the stats API fallback and against
`docker stats --no-stream` for the same containers.

    python -m benchmarks.probe_cycle --containers 300 [--rounds 5] [--redis-url redis://…/12]

Creates N busybox `sleep` containers (network_mode none) labelled as one compose-like
project, in parallel, and removes them at the end, also on Ctrl-C or SIGTERM. With
--redis-url the cycle includes the sustained-state round trips (keys removed afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import docker
import docker.errors
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from healer.adapters.docker.engine import DockerEngine  # noqa: E402
from healer.adapters.docker.stats import (  # noqa: E402
    DEFAULT_API_WORKERS,
    StatsCollector,
    SustainedStore,
)
from healer.adapters.store.keys import RESOURCE_PREFIX as RES_PREFIX  # noqa: E402
from healer.core.compose_labels import NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL  # noqa: E402
from healer.core.model import ContainerId, ServiceId, ServiceView  # noqa: E402
from tests.support import ensure_test_image, unique_project_name  # noqa: E402

POOL = 8  # parallel create/remove calls; the engine serialises much of it on 2 cores anyway


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    pool = ThreadPoolExecutor(POOL)
    try:
        return list(pool.map(fn, items))
    finally:
        # On Ctrl-C: drop the queued calls, wait for those in flight, so that the cleanup's
        # list call sees every container that was made.
        pool.shutdown(wait=True, cancel_futures=True)


def create(client: docker.DockerClient, image: str, project: str, i: int) -> str:
    labels = {PROJECT_LABEL: project, SERVICE_LABEL: f"s{i % 10}", NUMBER_LABEL: str(i // 10 + 1)}
    host_config = client.api.create_host_config(network_mode="none", init=True)
    cid = client.api.create_container(
        image, ["sleep", "2147483647"], labels=labels, host_config=host_config
    )["Id"]
    client.api.start(cid)
    return str(cid)


def remove_project(client: docker.DockerClient, project: str) -> int:
    found = client.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})

    def rm(entry: dict[str, Any]) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(entry["Id"], force=True)

    parallel(rm, found)
    return len(found)


def running_ids(views: dict[ServiceId, ServiceView]) -> list[tuple[ContainerId, int | None]]:
    # The list call carries no pid: the collector finds one in the cgroup's cgroup.procs.
    return [(c.id, None) for v in views.values() for c in v.containers if c.state == "running"]


def probe_round(
    engine: DockerEngine, stats: StatsCollector, store: SustainedStore | None
) -> tuple[list[float], int, int]:
    """([list, sample, redis] seconds, Docker API calls, samples) of one probe's collection."""
    calls = engine.api_calls + stats.api_calls
    t0 = time.perf_counter()
    views = engine.services()
    t1 = time.perf_counter()
    samples = stats.collect(running_ids(views))
    t2 = time.perf_counter()
    if store is not None:
        store.cycle(samples)
    t3 = time.perf_counter()
    return [t1 - t0, t2 - t1, t3 - t2], engine.api_calls + stats.api_calls - calls, len(samples)


def measure(
    label: str,
    rounds: int,
    engine: DockerEngine,
    stats: StatsCollector,
    store: SustainedStore | None,
) -> float:
    probe_round(engine, stats, store)  # warm-up: cgroup paths and CPU quotas get cached
    results = [probe_round(engine, stats, store) for _ in range(rounds)]
    parts = [statistics.median(r[0][i] for r in results) * 1000 for i in range(3)]
    wall = statistics.median(sum(r[0]) for r in results)
    print(f"{label:34} median {wall * 1000:8.1f} ms  (list {parts[0]:.1f} + sample {parts[1]:.1f}"
          f" + redis {parts[2]:.1f})  API calls/cycle {results[-1][1]}  samples {results[-1][2]}"
          f"  RSS {rss_mib():.1f} MiB")  # fmt: skip
    return wall


def docker_stats_cli(ids: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(["docker", "stats", "--no-stream", *ids], check=True, capture_output=True)
    return time.perf_counter() - start


def run(client: docker.DockerClient, args: argparse.Namespace, project: str) -> None:
    image, _ = ensure_test_image(client)
    start = time.perf_counter()
    ids = parallel(lambda i: create(client, image, project, i), range(args.containers))
    print(f"created {len(ids)} containers in {time.perf_counter() - start:.1f}s ({project})")
    engine = DockerEngine(client, projects=(project,))
    store = SustainedStore(redis.Redis.from_url(args.redis_url)) if args.redis_url else None
    rss_before = rss_mib()
    cgroup = StatsCollector(client, args.cgroup_root, max_workers=args.workers)
    ours = measure("list + cgroup files" + (" + redis" if store else ""), args.rounds, engine,
                   cgroup, store)  # fmt: skip
    fallback = StatsCollector(client, "/nonexistent", max_workers=args.workers)
    api = measure(f"list + stats API ({args.workers} threads)", 1, engine, fallback, None)
    cli = statistics.median(docker_stats_cli(ids) for _ in range(args.rounds))
    print(f"{'docker stats --no-stream':34} median {cli * 1000:8.1f} ms  "
          f"(one stats stream per container)")  # fmt: skip
    print(f"cgroup path mode: {cgroup.version and f'v{cgroup.version}'}, "
          f"fallbacks {cgroup.fallbacks}; RSS growth {rss_mib() - rss_before:+.1f} MiB, "
          f"peak {peak_rss_mib():.1f} MiB")  # fmt: skip
    print(f"ratio docker stats / ours: {cli / ours:.0f}x   stats API / ours: {api / ours:.0f}x")
    if store is not None:
        keys = list(store.r.scan_iter(f"{RES_PREFIX}*", count=1000))
        store.r.delete(*[k for k in keys if any(i.encode() in k for i in ids)] or ["-"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--containers", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--workers", type=int, default=DEFAULT_API_WORKERS, help="threads of the stats API fallback"
    )
    ap.add_argument("--cgroup-root", default="/sys/fs/cgroup")
    ap.add_argument("--redis-url", default=None, help="include the sustained-state round trips")
    args = ap.parse_args()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # SIGTERM cleans up like Ctrl-C
    client = docker.from_env(timeout=300, max_pool_size=max(10, args.workers))
    project = unique_project_name("bench-probe").replace("chtest-", "chbench-")
    try:
        run(client, args, project)
    except KeyboardInterrupt:
        print("interrupted: removing the containers", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        start = time.perf_counter()
        removed = remove_project(client, project)
        print(f"removed {removed} containers in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
