"""Scale to zero and back, live: the real `healer run` parks an idle service at zero, then a
task arrives; seconds until the first replica runs and until it has taken the task.

    python -m benchmarks.zero_live [--repeats 3] [--interval 3]
                                   [--redis-url redis://127.0.0.1:6387/12]

The service `worker` (busybox test image, host network) takes tasks with LPOP from a list on
the healer's Redis every 0.2 s (busybox has no Celery; LPOP is what a consumer does to the
list). Labels: `healer.scale.metric=queue`, `min=0`, `max=2`, `window=5s`, `cooldown=0`.
SCALER_INTERVAL is `--interval`; the healer's own Redis also has the between-cycles trigger,
which sees a backlog on a service at zero at the next beat tick.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import docker
import redis

from benchmarks.burst_live import Bench, Version, start_healer
from tests.support import (
    ComposeProject,
    compose_yaml,
    ensure_test_image,
    healthy_service_yaml,
    unique_project_name,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]


def service(image: str, queue: str, redis_url: str) -> str:
    parts = urlsplit(redis_url)
    db = parts.path.strip("/") or "0"
    command = (
        "touch /tmp/healthy; while true; do "
        f"printf 'SELECT {db}\\r\\nLPOP {queue}\\r\\n' | nc -w 1 127.0.0.1 {parts.port} "
        ">/dev/null; sleep 0.2; done"
    )
    labels = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": queue,
        "healer.scale.target": "10",
        "healer.scale.min": "0",
        "healer.scale.max": "2",
        "healer.scale.window": "5s",
        "healer.scale.cooldown": "0",
        "healer.scale.drain": "none",
    }
    block = healthy_service_yaml(
        image, "worker", command=command, network_mode="host", labels=labels
    )
    return compose_yaml(block)


def at_zero(bench: Bench) -> bool:
    states = [c.status for c in bench.project.containers("worker")]
    return bool(states) and all(s == "exited" for s in states)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--interval", type=float, default=3.0, help="SCALER_INTERVAL, s")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6387/12")
    args = ap.parse_args()
    client = docker.from_env()
    image, _ = ensure_test_image(client)
    tmp = Path(tempfile.mkdtemp(prefix="zero-live-"))
    queue = f"zero-jobs-{os.getpid()}"
    (tmp / "compose.yml").write_text(service(image, queue, args.redis_url))
    project = ComposeProject(
        name=unique_project_name("zero"), dir=tmp, file=tmp / "compose.yml", client=client
    )
    bench = Bench(client, project, queue, args.redis_url, args.interval, tmp)
    r = redis.Redis.from_url(args.redis_url)
    running: list[float] = []
    consumed: list[float] = []
    try:
        project.up(wait=True)
        r.flushdb()
        healer = start_healer(bench, Version("now", ROOT))
        try:
            for _ in range(args.repeats):
                wait_until(lambda: at_zero(bench), 120, 0.2, "the idle service to reach zero")
                r.rpush(queue, "job")
                started = time.monotonic()
                wait_until(lambda: bench.running() >= 1, 120, 0.05, "a replica running")
                running.append(time.monotonic() - started)
                wait_until(lambda: r.llen(queue) == 0, 120, 0.05, "the task taken")
                consumed.append(time.monotonic() - started)
                print(
                    f"  running {running[-1]:5.2f} s, task taken {consumed[-1]:5.2f} s", flush=True
                )
        finally:
            healer.stop_all()
    finally:
        r.delete(queue)
        project.down()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\nfrom zero, SCALER_INTERVAL={args.interval:g}, on {socket.gethostname()} (shared "
        f"machine), {len(running)} wakes: first replica running mean "
        f"{statistics.mean(running):.2f} s (max {max(running):.2f}); task taken mean "
        f"{statistics.mean(consumed):.2f} s (max {max(consumed):.2f})"
    )


if __name__ == "__main__":
    main()
