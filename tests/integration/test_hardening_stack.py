"""Issue 10 regressions that need the real roles: alerts closing every request they open,
alerts aimed at one container, the task time limit, and an engine that is not there."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.integration.test_alerts_api import alert, alerts_app, only, post, serve, wait_done
from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import ROOT, HealerFactory


def test_an_alert_naming_a_container_repairs_only_that_one(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    service = healthy_service_yaml(test_image, "web", "scale: 2")
    project = compose_project(compose_yaml(service), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name)
    stack.worker()
    _first, second = project.containers("web")
    with serve(alerts_app(stack)) as url:
        sent = alert("web", alertname="ContainerUnhealthy", container=second.name)
        queued = only(post(url, sent))
        assert queued["decision"] == "queued", queued
        assert wait_done(url, queued["task_id"])["outcome"] == "acted"
        missing = only(post(url, alert("web", alertname="HighErrorRate", container="nope-9")))
        assert (missing["decision"], missing["reason"]) == ("skipped", "container_not_found")
    restarted = {e["container_id"] for e in rec.events("restart", "web")}
    assert restarted == {second.id}, rec.describe()


def _replicas(project: Any) -> int:
    return len(project.containers("web"))


@pytest.mark.parametrize(
    ("labels", "extra", "outcome", "reason", "replicas"),
    [
        # Refused at the intake already: an alert may scale up only a service that autoscales.
        ({}, "", "skipped", "not_allowed", 1),
        ({"healer.scale.max": "3"}, "volumes:\n  - data:/data", "skipped", "refused", 1),
        ({"healer.scale.max": "3"}, "", "acted", "requested via alert", 2),
    ],
    ids=["not-opted-in", "shares-a-volume", "opted-in"],
)
def test_a_scale_up_alert_is_finished_and_only_scales_opted_in_services(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    test_image: str,
    labels: dict[str, str],
    extra: str,
    outcome: str,
    reason: str,
    replicas: int,
) -> None:
    service = healthy_service_yaml(test_image, "web", extra, labels=labels)
    top = "volumes:\n  data: {}" if extra else ""
    project = compose_project(compose_yaml(service, top_level=top), wait=True)
    stack = healer_stack(project.name)
    stack.worker()
    with serve(alerts_app(stack)) as url:
        queued = only(post(url, alert("web", alertname="CeleryQueueBacklog", action="scale_up")))
        if reason == "not_allowed":
            assert (queued["decision"], queued["reason"]) == (outcome, reason), queued
            assert _replicas(project) == replicas
            return
        assert queued["decision"] == "queued", queued
        done = wait_done(url, queued["task_id"])  # before the fix: `queued` for a day
    assert (done["outcome"], done["reason"]) == (outcome, reason), done
    if reason == "refused":
        assert "healer.scale.shared_storage" in done["detail"]
    assert _replicas(project) == replicas


def test_the_task_time_limit_still_records_an_outcome(
    compose_project: ComposeFactory, healer_stack: HealerFactory, test_image: str
) -> None:
    stubborn = "trap '' TERM; touch /tmp/healthy; while :; do sleep 1; done"
    service = healthy_service_yaml(
        test_image, "web", "stop_grace_period: 30s", command=stubborn
    ).replace("    init: true\n", "")
    project = compose_project(compose_yaml(service), wait=True)
    # Celery enforces task time limits in the prefork pool only (the threads pool bounds each
    # Docker call with HEALER_DOCKER_TIMEOUT instead), so this runs a prefork worker.
    stack = healer_stack(project.name, HEALER_TASK_TIME_LIMIT="4", HEALER_WORKER_POOL="prefork")
    stack.worker()
    out = stack.cli(
        "repair", "web", "--action", "stop_start", "--wait", "--timeout", "40", check=False
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("failed: time_limit"), out.stdout


# --- an engine that is not there -------------------------------------------------------------


def _env(redis_url: str, **more: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", **more}


def test_check_names_the_absent_engine_in_one_line_and_never_the_redis_password(
    redis_url: str, tmp_path: Path
) -> None:
    url = redis_url.replace("redis://", "redis://:sekrit-password-123@")
    env = _env(url, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock", HEALER_LOG_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "healer", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Traceback" not in text and "sekrit-password" not in text, text
    docker_lines = [line for line in out.stderr.splitlines() if "docker" in line.lower()]
    assert len(docker_lines) == 1, out.stderr
    assert f"unix://{tmp_path}/nothing.sock" in docker_lines[0]
    assert "no socket at that path" in docker_lines[0]


class EngineDoor:
    """A unix socket standing in for the engine: refuses (closes) every connection until
    `open()`, then relays each one to the real engine's socket."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        self.path, self.target = path, target
        self.refused = 0
        self.opened = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if not self.opened.is_set():
                self.refused += 1
                conn.close()
                continue
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def engine_door(tmp_path: Path) -> Iterator[EngineDoor]:
    door = EngineDoor(tmp_path / "engine.sock")
    yield door
    door.close()


def test_healer_run_waits_for_an_absent_engine_and_carries_on_when_it_appears(
    redis_url: str, tmp_path: Path, engine_door: EngineDoor
) -> None:
    port = free_port()
    env = _env(
        redis_url,
        DOCKER_HOST=f"unix://{engine_door.path}",
        HEALER_PROJECTS="chtest-none",
        HEALER_API_PORT=str(port),
        HEALER_API_TOKEN="x" * 32,
        HEALER_LOG_DIR=str(tmp_path / "logs"),
        WATCHDOG_INTERVAL="2",
    )
    log = tmp_path / "run.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "healer", "run", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Positive signal first: it has retried (1 s, 2 s, 4 s backoff) at least three times.
        wait_until(lambda: engine_door.refused >= 3, timeout=30, message="three engine pings")
        text = log.read_text()
        said = [line for line in text.splitlines() if "unreachable" in line]
        assert len(said) == 1 and str(engine_door.path) in said[0], text
        assert "Traceback" not in text and "started worker" not in text, text
        engine_door.open()

        def healthy() -> bool:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx.HTTPError:
                return False
            return r.status_code == 200 and r.json()["docker"] == "ok"

        wait_until(healthy, timeout=90, message="the API, with the engine back:\n" + log.name)
        r = redis.Redis.from_url(redis_url)
        wait_until(
            lambda: any(r.scan_iter(match="healer:heartbeat:worker:*")),
            timeout=60,
            message="a reconcile",
        )
        assert "Traceback" not in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
