"""Burst → capacity, live, by where the queue lives: the healer's own Redis, an application's
own Redis (a separate redis-server, password in an env var of the healer) and RabbitMQ.

    python -m benchmarks.burst_brokers [--repeats 2] [--interval 3]
                                       [--redis-url redis://127.0.0.1:6379/12]

The real `healer run` (this tree) scales a compose service `worker` (busybox test image,
healthcheck) labelled `healer.scale.metric=queue`, target 10, max 4, on a queue of its own;
for the two external brokers also `healer.scale.broker=env:BENCH_APP_BROKER`. A burst of 100
tasks (never consumed) asks for 10 replicas, capped at 4: seconds from the push until 4 run.
Between repeats the queue is purged and `healer scale worker 1 --force` resets the service.
The healer's own Redis also has the between-cycles trigger (beat checks the backlog every
tick); an application's broker is read by the scaler cycle only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import redis
from celery import Celery
from kombu import Connection

from benchmarks.burst_live import BURST, MAX, Bench, Version, reset, start_healer
from healer.adapters.scaling.queue_depth import priority_keys
from tests.support import (
    ComposeProject,
    compose_yaml,
    ensure_test_image,
    healthy_service_yaml,
    unique_project_name,
    wait_until,
)
from tests.support.brokers import RabbitServer

ROOT = Path(__file__).resolve().parents[1]


class BrokerBench(Bench):
    broker_url: str = ""

    def push(self, n: int) -> None:
        app = Celery(broker=self.broker_url or self.redis_url, set_as_current=False)
        try:
            with app.producer_or_acquire() as producer:
                for _ in range(n):
                    app.send_task("noop", queue=self.queue, producer=producer)
        finally:
            app.close()

    def purge(self) -> None:
        url = self.broker_url or self.redis_url
        if url.startswith("amqp"):
            with Connection(url) as conn, contextlib.suppress(Exception):  # no queue yet
                conn.channel().queue_purge(self.queue)
            return
        redis.Redis.from_url(url).delete(*priority_keys(self.queue))


def service(image: str, queue: str, external: bool) -> str:
    labels = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": queue,
        "healer.scale.target": "10",
        "healer.scale.min": "1",
        "healer.scale.max": str(MAX),
    }
    if external:
        labels["healer.scale.broker"] = "env:BENCH_APP_BROKER"
    return compose_yaml(healthy_service_yaml(image, "worker", labels=labels))


def run_one(
    client: docker.DockerClient, label: str, broker: str, args: argparse.Namespace, image: str
) -> list[float]:
    tmp = Path(tempfile.mkdtemp(prefix="burst-brokers-"))
    queue = f"burst-jobs-{os.getpid()}-{label.split()[0]}"
    (tmp / "compose.yml").write_text(service(image, queue, bool(broker)))
    project = ComposeProject(
        name=unique_project_name("burstb"), dir=tmp, file=tmp / "compose.yml", client=client
    )
    bench = BrokerBench(client, project, queue, args.redis_url, args.interval, tmp)
    bench.broker_url = broker
    os.environ["BENCH_APP_BROKER"] = broker  # start_healer passes the environment on
    times: list[float] = []
    try:
        project.up(wait=True)
        redis.Redis.from_url(args.redis_url).flushdb()
        healer = start_healer(bench, Version(label, ROOT))
        try:
            time.sleep(2 * args.interval + 1)
            for _ in range(args.repeats):
                bench.purge()
                started = time.monotonic()
                bench.push(BURST)
                times.append(bench.time_until(MAX, started, 120))
                print(f"  {label}: {times[-1]:5.1f} s", flush=True)
                reset(bench, healer)
        finally:
            healer.stop_all()
    finally:
        bench.purge()
        project.down()
        shutil.rmtree(tmp, ignore_errors=True)
    return times


def app_redis(port: int) -> tuple[subprocess.Popen[bytes], str]:
    password = "bench-" + os.urandom(4).hex()
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--requirepass",
        password,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait_until(client.ping, 30, 0.1, "the app's redis", ignore=(redis.ConnectionError,))
    client.close()
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--interval", type=float, default=3.0, help="SCALER_INTERVAL, s")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6387/12", help="the healer's")
    ap.add_argument("--app-redis-port", type=int, default=6411)
    ap.add_argument(
        "--only",
        choices=("own", "redis", "rabbitmq"),
        action="append",
        help="measure only these brokers (repeatable); default all three",
    )
    args = ap.parse_args()
    client = docker.from_env()
    image, _ = ensure_test_image(client)
    rproc, rurl = app_redis(args.app_redis_port)
    rabbit = RabbitServer()
    results: dict[str, list[float]] = {}
    try:
        rabbit.start()
        brokers = (
            ("own", "healer's own Redis", ""),
            ("redis", "app's own Redis", rurl),
            ("rabbitmq", "RabbitMQ", rabbit.url),
        )
        for key, label, broker in brokers:
            if not args.only or key in args.only:
                results[label] = run_one(client, label, broker, args, image)
    finally:
        rabbit.close()
        rproc.terminate()
        rproc.wait(10)
    print(
        f"\nburst of {BURST} tasks, target 10/replica, max {MAX}, SCALER_INTERVAL="
        f"{args.interval:g} on {socket.gethostname()} (shared machine)"
    )
    for label, times in results.items():
        print(
            f"  {label:20} seconds to {MAX} replicas: mean {statistics.mean(times):5.1f}, "
            f"max {max(times):5.1f} ({len(times)} bursts)"
        )


if __name__ == "__main__":
    main()
