"""Memory footprint of `healer run`: PSS of every process of the tree and the total, for the
default configuration and, as the baseline, the tree it had before (a prefork worker with 4
children, beat, events watcher and uvicorn each their own process), in one run.

    python -m benchmarks.footprint [--services 5] [--redis-url redis://127.0.0.1:6379/14]

Starts a compose project of `--services` managed services from the busybox test image, then
for each configuration starts `python -m healer run` against it, waits until every role is
ready (the API answers /healthz, a worker answers a ping, beat's reconcile has run and the
events watcher has sent its heartbeat), lets it settle for `--settle` seconds, reads
/proc/<pid>/smaps_rollup of every process in the tree and stops it. Removes the project at
the end. PSS counts a page shared by k processes as 1/k to each, so the total is what the
tree really costs the host (RSS would count shared pages once per process).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from healer.adapters.store import keys  # noqa: E402
from healer.core.model import HostId  # noqa: E402
from tests.support import (  # noqa: E402
    ComposeProject,
    compose_yaml,
    ensure_test_image,
    free_port,
    healthy_service_yaml,
    unique_project_name,
    wait_until,
)
from tests.support.healer import HealerStack  # noqa: E402


def previous_tree() -> None:
    """The tree `healer run` was before this benchmark existed, as the baseline: a parent
    holding the CLI's imports, a prefork worker with 4 children, beat, the events watcher and
    uvicorn, each its own interpreter. Run as `python -m benchmarks.footprint --previous`."""
    import healer.cli  # noqa: F401  -- the old supervisor ran inside the CLI process

    py = sys.executable
    port = os.environ["HEALER_API_PORT"]
    queues = "healer.probe,healer.repair,healer.scale"
    argvs = [
        [py, "-m", "celery", "-A", "workers.app", "worker", "-E", "--loglevel", "INFO",
         "-Q", queues, "-c", "4", "-n", f"healer-{os.getpid()}@%h"],
        [py, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO"],
        [py, "-m", "beat.events"],
        [py, "-m", "uvicorn", "--factory", "healer.api.app:create_app", "--host", "127.0.0.1",
         "--port", port],
    ]  # fmt: skip
    # Celery cannot tell an explicit `--pool prefork` from its default; the setting can.
    env = {**os.environ, "HEALER_WORKER_POOL": "prefork"}
    procs = [subprocess.Popen(a, env=env) for a in argvs]

    def stop_all(*_: object) -> None:
        for p in procs:
            p.terminate()

    signal.signal(signal.SIGTERM, stop_all)
    for p in procs:
        p.wait()


@dataclass(frozen=True)
class Proc:
    pid: int
    name: str
    pss_kib: int
    rss_kib: int


def children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc/<pid>/task/*/children."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children(pid)
    return out


def rollup(pid: int) -> Mapping[str, int]:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0])
    return values


def describe(pid: int) -> str:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in argv if a]
    text = " ".join(w.rsplit("/", 1)[-1] if i == 0 else w for i, w in enumerate(words))
    return text[:70]


def measure(root: int) -> list[Proc]:
    procs = []
    for pid in tree(root):
        try:
            r = rollup(pid)
            procs.append(Proc(pid, describe(pid), r.get("Pss", 0), r.get("Rss", 0)))
        except OSError:
            continue  # exited between the listing and the read
    return procs


def wait_ready(env: Mapping[str, str], api: str, log: Path) -> None:
    r = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)

    def api_up() -> bool:
        try:
            return httpx.get(api + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def roles_up() -> bool:
        # The reconcile probe writes the worker and beat heartbeats; events writes its own.
        host = HostId(env["HEALER_HOST"])
        names = [keys.heartbeat(role, host) for role in ("worker", "beat", "events")]
        return all(r.exists(n) for n in names)

    def tail() -> str:
        return "\n".join(log.read_text(errors="replace").splitlines()[-30:])

    try:
        wait_until(api_up, timeout=90, message="the API to answer /healthz")
        wait_until(roles_up, timeout=90, message="worker, beat and events heartbeats")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{tail()}") from exc


def run_config(previous: bool, base: Mapping[str, str], settle: float, tmp: Path) -> list[Proc]:
    redis.Redis.from_url(base["REDIS_URL"]).flushdb()
    port = free_port()
    stack = HealerStack(env={**base, "HEALER_API_PORT": str(port)}, log_dir=tmp)
    role = "healer-previous" if previous else "healer-default"
    argv = ["-m", "benchmarks.footprint", "--previous"] if previous else ["-m", "healer", "run"]
    proc = stack.start(role, [sys.executable, *argv])
    try:
        wait_ready(stack.env, f"http://127.0.0.1:{port}", tmp / f"{role}.out")
        time.sleep(settle)
        return measure(proc.pid)
    finally:
        stack.stop_all()


def report(label: str, procs: list[Proc]) -> int:
    print(f"{label}: {len(procs)} processes")
    for p in procs:
        pss, rss = p.pss_kib / 1024, p.rss_kib / 1024
        print(f"  {p.pid:7} PSS {pss:6.1f} MiB  RSS {rss:6.1f} MiB  {p.name}")
    total = sum(p.pss_kib for p in procs)
    rss = sum(p.rss_kib for p in procs)
    print(f"  total  PSS {total / 1024:6.1f} MiB  RSS {rss / 1024:6.1f} MiB")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--services", type=int, default=5)
    ap.add_argument("--settle", type=float, default=10.0, help="seconds after ready, s")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    ap.add_argument("--previous", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.previous:
        previous_tree()
        return
    client = docker.from_env()
    image, _ = ensure_test_image(client)
    tmp = Path(tempfile.mkdtemp())
    name = unique_project_name("footprint")
    (tmp / "compose.yml").write_text(
        compose_yaml(*(healthy_service_yaml(image, f"s{i}") for i in range(args.services)))
    )
    project = ComposeProject(name=name, dir=tmp, file=tmp / "compose.yml", client=client)
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEALER_")},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": args.redis_url,
        "HEALER_PROJECTS": name,
        "HEALER_API_TOKEN": "footprint-benchmark",
        "HEALER_LOG_DIR": str(tmp / "logs"),
        "WATCHDOG_INTERVAL": "5",
        "HEALER_HOST": socket.gethostname(),
    }
    try:
        project.up(wait=True)
        totals = {}
        configs = (("healer run (default settings)", False), ("previous tree (baseline)", True))
        for label, previous in configs:
            totals[label] = report(label, run_config(previous, base, args.settle, tmp))
        now, before = totals.values()
        print(
            f"default / previous: {now / before:.2f} "
            f"({now / 1024:.0f} MiB vs {before / 1024:.0f} MiB PSS, {args.services} services)"
        )
    finally:
        project.down()


if __name__ == "__main__":
    main()
