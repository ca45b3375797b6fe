"""An ad-hoc repair is visible in Flower: a real Flower, a real worker (-E), the real broker."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support import (
    ComposeFactory,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import ROOT, HealerFactory, HealerStack

T = TypeVar("T")


class Flower:
    def __init__(self, stack: HealerStack, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        # Flower 2 refuses its HTTP API without auth unless told so; this one listens on
        # 127.0.0.1 only and lives for one test.
        env = {**stack.env, "FLOWER_UNAUTHENTICATED_API": "true"}
        argv = [sys.executable, "-m", "celery", "-A", "workers.app", "flower"]
        argv += [f"--port={self.port}", "--address=127.0.0.1"]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def get(self, path: str, **params: Any) -> Any:
        resp = httpx.get(self.url + path, params=params, timeout=10)
        resp.raise_for_status()
        return resp.json() if "json" in resp.headers.get("content-type", "") else resp.text

    def wait(self, predicate: Callable[[], T], what: str, timeout: float = 30) -> T:
        """wait_until, with Flower's log (read when giving up) in the failure."""
        try:
            return wait_until(predicate, timeout=timeout, ignore=(httpx.HTTPError,), message=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- flower ---\n{self.tail()}") from None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def flower_for(tmp_path: Path) -> Iterator[Any]:
    started: list[Flower] = []

    def start(stack: HealerStack) -> Flower:
        flower = Flower(stack, tmp_path / f"flower-{len(started)}.out")
        started.append(flower)
        return flower

    yield start
    for flower in started:
        flower.stop()


def test_adhoc_repair_shows_in_flower_with_readable_kwargs(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    flower_for: Any,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    stack = healer_stack(project.name)
    stack.worker()
    flower = flower_for(stack)
    flower.wait(lambda: flower.get("/healthcheck") == "OK", "Flower to start")
    # Flower only knows what its event receiver saw; a worker heartbeat reaching its
    # metrics proves the receiver is subscribed before the repair's events are sent.
    flower.wait(
        lambda: re.search(r"^flower_worker_online\{.*\} 1\.0$", flower.get("/metrics"), re.M),
        "a worker heartbeat in Flower's metrics",
    )

    out = stack.cli("repair", "web").stdout
    task_id = out.split(" as request ")[1].strip()

    def finished() -> dict[str, Any]:
        info: dict[str, Any] = flower.get(f"/api/task/info/{task_id}")
        return info if info.get("state") == "SUCCESS" else {}

    info = flower.wait(finished, f"task {task_id} to succeed in Flower", timeout=60)
    assert info["name"] == "healer.repair.service"
    assert info["worker"].startswith("w1-")
    kwargs = ast.literal_eval(info["kwargs"])  # Flower shows Celery's repr of the kwargs
    assert kwargs["sid"] == f"{project.name}/web"
    assert kwargs["action"] == "restart"
    assert kwargs["source"] == "cli" and kwargs["request_id"] == task_id
    assert "'outcome': 'acted'" in str(info["result"])

    listed: dict[str, Any] = flower.get("/api/tasks", taskname="healer.repair.service")
    assert task_id in listed and listed[task_id]["state"] == "SUCCESS"
    types = flower.get("/api/task/types")["task-types"]
    assert "healer.repair.service" in types


def test_flower_shows_each_hosts_own_queues(healer_stack: HealerFactory, flower_for: Any) -> None:
    """Two workers of two hosts: each consumes its own host's queues (and the shared ones),
    and Flower lists every per-host queue (its broker view, with each queue's length)."""
    suffix = os.urandom(3).hex()
    hosts = (f"fa-{suffix}", f"fb-{suffix}")
    # No managed project: the workers only need to exist, not to heal anything.
    stacks = [healer_stack(f"chtest-none-{suffix}", HEALER_HOST=h) for h in hosts]
    for stack, host in zip(stacks, hosts, strict=True):
        stack.worker(name=f"w-{host}")
    flower = flower_for(stacks[0])
    flower.wait(lambda: flower.get("/healthcheck") == "OK", "Flower to start")

    def consumed() -> dict[str, set[str]]:
        workers: dict[str, Any] = flower.get("/api/workers", refresh="1")
        out = {}
        for node, info in workers.items():
            for host in hosts:
                if node.startswith(f"w-{host}-"):
                    out[host] = {q["name"] for q in info.get("active_queues") or []}
        return out if len(out) == 2 else {}

    queues = flower.wait(consumed, "both workers' queues in Flower")
    shared = {"healer.probe", "healer.repair", "healer.scale"}
    for host, other in (hosts, hosts[::-1]):
        own = {f"{q}@{host}" for q in shared}
        assert own | shared <= queues[host], queues
        assert not {q for q in queues[host] if q.endswith(f"@{other}")}, queues

    # Flower's broker view (queue lengths) lists every host's own queues.
    def listed() -> set[str]:
        data = flower.get("/api/queues/length")["active_queues"]
        names = {q["name"] for q in data}
        wanted = {f"{q}@{h}" for q in shared for h in hosts}
        return names if wanted <= names else set()

    names = flower.wait(listed, "every host's queues in Flower's queue lengths")
    assert shared <= names, names
