"""Availability during an operator's repair of a multi-replica service, on the real engine.

    python -m benchmarks.rolling_repair [--actions restart,recreate] [--http]
        [--redis-url redis://127.0.0.1:6379/14]

For each action: a three-replica service with a healthcheck is repaired (as `healer repair
web --action A` does, in-process) while its healthy replicas are sampled every 100 ms from
the engine; prints the fewest healthy seen, the total time and the time per replica.

`--http`: the service is an HTTP server that takes 2 s to listen after it starts, behind
HAProxy (Debian's, `option httpchk`, on 127.0.0.1) with a bounded request loop running
through the repair; prints the failed requests. BENCH_CODE=/path/to/another/checkout runs
the same measurement against that checkout's healer (e.g. the previous release).
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, os.environ.get("BENCH_CODE", str(ROOT)))

from healer.core.model import Action, Condition, RepairRequest, Source, service_id  # noqa: E402
from healer.engine.context import build  # noqa: E402
from healer.engine.repair.run import repair  # noqa: E402
from healer.settings import Settings  # noqa: E402
from tests.support import ComposeProject, ensure_test_image, unique_project_name  # noqa: E402
from tests.support.healer import NoDispatch  # noqa: E402

REPLICAS = 3
HAPROXY_PORT = 18386
NETWORK_YAML = "networks:\n  web: {}\n"


def service_yaml(image: str, http: bool) -> str:
    if http:
        command = "mkdir -p /www; echo ok > /www/index.html; sleep 2; exec httpd -f -p 8080 -h /www"
        check = '["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]'
        net = "    networks: [web]\n"
    else:
        command = "touch /tmp/healthy; exec sleep 3600"
        check = '["CMD", "test", "-f", "/tmp/healthy"]'
        net = "    network_mode: none\n"
    return (
        "services:\n  web:\n"
        f"    image: {image}\n    init: true\n{net}"
        f"    command: [sh, -c, {command!r}]\n"
        f"    deploy:\n      replicas: {REPLICAS}\n"
        f"    healthcheck:\n      test: {check}\n      interval: 1s\n      timeout: 2s\n"
        "      retries: 3\n      start_period: 5s\n" + (NETWORK_YAML if http else "")
    )


class Sampler:
    def __init__(self, client: docker.DockerClient, project: str) -> None:
        labels = [f"com.docker.compose.project={project}", "com.docker.compose.service=web"]
        self.client, self.filters = client, {"label": labels, "health": "healthy"}
        self.samples: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(len(self.client.api.containers(filters=self.filters)))
            self.stop.wait(0.1)


class Requests:
    """A bounded loop of requests through HAProxy: one every 20 ms until stopped (at most
    5,000)."""

    def __init__(self) -> None:
        self.ok = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        for _ in range(5000):
            if self.stop.is_set():
                return
            try:
                conn = http.client.HTTPConnection("127.0.0.1", HAPROXY_PORT, timeout=2)
                conn.request("GET", "/")
                good = conn.getresponse().status == 200
                conn.close()
            except OSError:
                good = False
            self.ok += good
            self.failed += not good
            time.sleep(0.02)


def haproxy(tmp: Path, ips: list[str]) -> subprocess.Popen[bytes]:
    servers = "\n".join(f"    server web{i} {ip}:8080 check" for i, ip in enumerate(ips))
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(
        "global\n    maxconn 256\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\n    retries 2\n    option redispatch\n"
        f"frontend fe\n    bind 127.0.0.1:{HAPROXY_PORT}\n    default_backend be\n"
        "backend be\n    option httpchk GET /\n"
        "    default-server inter 200ms fall 1 rise 1\n"
        f"{servers}\n"
    )
    return subprocess.Popen(["haproxy", "-f", str(cfg)])


def measure(client: docker.DockerClient, image: str, action: str, http: bool, url: str) -> None:
    redis.Redis.from_url(url).flushdb()
    name = unique_project_name("roll")
    tmp = Path(tempfile.mkdtemp())
    (tmp / "compose.yml").write_text(service_yaml(image, http))
    project = ComposeProject(name=name, dir=tmp, file=tmp / "compose.yml", client=client)
    proxy = None
    h = build(Settings(redis_url=url, projects=name, log_dir=tmp / "logs"), NoDispatch())
    try:
        project.up(wait=True)
        if http:
            ips = [
                next(iter(c.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
                for c in project.containers("web")
            ]
            proxy = haproxy(tmp, ips)
            time.sleep(1.5)
        sampler, load = Sampler(client, name), Requests()
        threads = [threading.Thread(target=sampler.run)]
        threads += [threading.Thread(target=load.run)] if http else []
        for t in threads:
            t.start()
        time.sleep(0.5)
        req = RepairRequest(
            service_id(name, "web"), Condition.MANUAL, action, (), "bench", Source.CLI, "bench"
        )
        started = time.monotonic()
        result = repair(h, req)
        took = time.monotonic() - started
        # Until every replica is healthy again (the previous release returns at `running`).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not sampler.samples or sampler.samples[-1] < 3):
            time.sleep(0.1)
        time.sleep(1.0)
        sampler.stop.set()
        load.stop.set()
        for t in threads:
            t.join(10)
        line = (
            f"{action:9} {result.outcome}: fewest healthy {min(sampler.samples)} of {REPLICAS} "
            f"({len(sampler.samples)} samples), total {took:.2f}s, "
            f"per replica {took / REPLICAS:.2f}s"
        )
        if http:
            total = load.ok + load.failed
            line += f"; HTTP via HAProxy: {load.failed} of {total} requests failed"
        print(line, flush=True)
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        h.stores.close()
        project.run("stop", "-t", "0", check=False)
        project.down()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--actions", default="restart,recreate")
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = ap.parse_args()
    client = docker.from_env()
    image, _ = ensure_test_image(client)
    for action in args.actions.split(","):
        measure(client, image, Action(action), args.http, args.redis_url)


if __name__ == "__main__":
    main()
