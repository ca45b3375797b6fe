"""The soak: services fail at random while a random worker is SIGKILLed and Redis restarts;
then the offline checker (soak_check.py) proves the invariants from evidence kept outside
Redis: the healer's operation log (HEALER_OPLOG), the harness's fault log, Docker's event
stream and the API's answers.

Duration: HEALER_SOAK_SECONDS (default 180 in CI: long enough for every fault kind, two
worker kills, a Redis restart and a quarantine; see the README for the command that runs it
for hours). HEALER_SOAK_DIR keeps the evidence folder (default: pytest's tmp_path).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from tests.chaos import soak_check
from tests.chaos.conftest import StackFactory
from tests.support import (
    ComposeFactory,
    ComposeProject,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerStack
from tests.support.redis_server import RedisServer

SECONDS = float(os.environ.get("HEALER_SOAK_SECONDS", "180"))
SEED = int(os.environ.get("HEALER_SOAK_SEED", "10"))
SERVICES = [f"svc{i}" for i in range(5)]
DOOMED = "doomed"  # crash-loops for good: must end quarantined
MAX_ATTEMPTS = 3
TOKEN = "soak-token-0123456789"
WORKER_KILL_EVERY = 45.0


class Soak:
    def __init__(self, project: ComposeProject, stack: HealerStack, folder: Path) -> None:
        self.project, self.stack, self.folder = project, stack, folder
        self.rng = random.Random(SEED)
        self.requests: list[str] = []
        self.workers = 0
        self.restarted_roles: list[str] = []

    def log_fault(self, kind: str, service: str, **more: Any) -> None:
        line = {"t": time.time(), "kind": kind, "sid": f"{self.project.name}/{service}", **more}
        with (self.folder / "faults.jsonl").open("a") as out:
            out.write(json.dumps(line) + "\n")

    def start_worker(self) -> None:
        self.workers += 1
        name = f"w{self.workers}"
        try:
            self.stack.worker(name, concurrency=2)
        except (redis.ConnectionError, AssertionError):
            # The readiness ping's client may hold a socket from before a Redis restart;
            # the worker was started: ping it again with a fresh client.
            wait_until(
                lambda: _pings(self.stack.env["REDIS_URL"], name),
                timeout=90,
                ignore=(redis.ConnectionError, OSError),
                message=f"worker {name}:\n" + self.stack.tail(),
            )

    def kill_a_worker(self) -> None:
        roles = [r for r in self.stack.procs if r.startswith("worker-")]
        victim = self.rng.choice(roles)
        self.stack.kill(victim, signal.SIGKILL)
        self.log_fault("worker_sigkill", "-", role=victim)
        self.start_worker()

    def supervise(self) -> None:
        """Restart a role that died (compose's `restart: unless-stopped` in production)."""
        for role, proc in list(self.stack.procs.items()):
            if proc.poll() is None:
                continue
            self.restarted_roles.append(role)
            self.stack.procs.pop(role)
            if role.startswith("worker-"):
                self.start_worker()
            elif role == "events":
                self.stack.events()
            elif role == "beat":
                self.stack.beat()

    def service_fault(self) -> None:
        service = self.rng.choice(SERVICES)
        kind = self.rng.choice(["crash", "unhealthy", "hand_stop", "api_repair"])
        container = self.project.container(service)
        if kind == "crash":
            subprocess.run(["docker", "kill", container.id], capture_output=True, check=False)
        elif kind == "unhealthy":
            subprocess.run(
                ["docker", "exec", container.id, "rm", "-f", "/tmp/healthy"],
                capture_output=True,
                check=False,
            )
        elif kind == "hand_stop":
            try:
                self.project.run("stop", "-t", "1", service, check=False, timeout=60)
            except subprocess.TimeoutExpired:
                return  # the engine was too loaded to take the fault: nothing was injected
        else:
            self.api_repair(service)
            return
        self.log_fault(kind, service)

    def api_repair(self, service: str) -> None:
        try:
            r = httpx.post(
                f"{self.stack.api_url}/repair/{service}",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=10,
            )
        except httpx.HTTPError:
            return
        if r.status_code == 202:  # accepted: it must end in an outcome
            self.requests.append(r.json()["task_id"])

    def status(self) -> dict[str, dict[str, Any]]:
        data: dict[str, dict[str, Any]] = httpx.get(
            f"{self.stack.api_url}/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ).json()["services"]
        return data

    def request_records(self) -> dict[str, dict[str, Any]]:
        return {
            rid: httpx.get(
                f"{self.stack.api_url}/requests/{rid}",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=10,
            ).json()
            for rid in self.requests
        }


def _pings(url: str, name: str) -> bool:
    app = Celery(broker=url, backend=url)
    try:
        node = f"{name}-{os.getpid()}@{os.uname().nodename}"
        return bool(app.control.ping(timeout=1.0, destination=[node]))
    finally:
        app.close()


def _converged(soak: Soak) -> bool:
    try:
        final = soak.status()
        records = soak.request_records()
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    if len(final) < len(SERVICES) + 1:
        return False
    ev = soak_check.Evidence([], [], [], records, final, MAX_ATTEMPTS)
    return not soak_check.unrepaired(ev) and not soak_check.unfinished(records)


def _volumes(project: ComposeProject) -> list[str]:
    label = f"com.docker.compose.project={project.name}"
    return sorted(v.name for v in project.client.volumes.list(filters={"label": label}))


# Alongside: built for a loaded host (10 s healthcheck timeouts, invariants, not timings),
# and three minutes long: it runs beside every other test. Late: beside the serial tests at
# the end, on a worker that would otherwise wait for them.
@pytest.mark.alongside(late=True)
@pytest.mark.timeout(int(SECONDS) + 900)
def test_soak(
    own_redis: RedisServer,
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    chaos_stack: StackFactory,
    test_image: str,
    tmp_path: Path,
) -> None:
    folder = Path(os.environ.get("HEALER_SOAK_DIR") or tmp_path / "soak")
    folder.mkdir(parents=True, exist_ok=True)
    blocks = [healthy_service_yaml(test_image, s, retries=2) for s in SERVICES]
    blocks[0] = healthy_service_yaml(test_image, SERVICES[0], "volumes:\n  - data:/data", retries=2)
    blocks.append(
        healthy_service_yaml(test_image, DOOMED, command="touch /tmp/healthy; sleep 2; exit 3")
    )
    # Healthchecks that tolerate a loaded CI host (10 s timeout, 3 retries): a service the
    # harness did not break should not flap by itself (the storm test covers that case).
    text = compose_yaml(*blocks, top_level="volumes:\n  data: {}")
    text = text.replace("timeout: 1s", "timeout: 10s").replace("retries: 2", "retries: 3")
    project = compose_project(text, "soak")
    wait_until(
        lambda: all(project.container(s).attrs["State"]["Running"] for s in SERVICES),
        timeout=60,
    )
    volumes_before = _volumes(project)
    rec = docker_events(project.name)
    stack = chaos_stack(
        own_redis.url,
        project.name,
        HEALER_API_TOKEN=TOKEN,
        HEALER_OPLOG=str(folder / "operations.jsonl"),
        WATCHDOG_INTERVAL="3",
        RESTART_COOLDOWN="2",
        HEALER_BACKOFF_MAX="8",
        MAX_RESTART_ATTEMPTS=str(MAX_ATTEMPTS),
        # Faults hit one service every ~20 s on average: most episodes end between them, so
        # most faults are repaired and only real crash loops end quarantined.
        HEALER_RESET_AFTER="8",
        HEALER_TASK_TIME_LIMIT="30",
        HEALER_VISIBILITY_TIMEOUT="40",
        HEALER_STORM_MIN_SERVICES="50",  # the brake has its own test; here, every repair
    )
    soak = Soak(project, stack, folder)
    soak.start_worker()
    soak.start_worker()
    stack.events()
    stack.beat()
    stack.api()

    started = time.time()
    next_worker_kill = started + WORKER_KILL_EVERY
    redis_restarted = False
    while time.time() < started + SECONDS:
        soak.supervise()
        soak.service_fault()
        if time.time() >= next_worker_kill:
            soak.kill_a_worker()
            next_worker_kill += WORKER_KILL_EVERY
        if not redis_restarted and time.time() >= started + SECONDS / 2:
            own_redis.restart()
            soak.log_fault("redis_restart", "-")
            redis_restarted = True
        time.sleep(soak.rng.uniform(2.0, 6.0))

    # Faults stop; the healer converges (an unacked task of a killed worker comes back
    # after the visibility timeout, 40 s here).
    deadline = time.time() + 240
    while time.time() < deadline and not _converged(soak):
        soak.supervise()
        time.sleep(2)

    final = soak.status()
    records = soak.request_records()
    with (folder / "docker_events.jsonl").open("w") as out:
        for e in rec.events():
            sid = f"{project.name}/{e['service']}"
            out.write(json.dumps({**e, "sid": sid}) + "\n")
    meta = {
        "requests": records,
        "final": final,
        "max_attempts": MAX_ATTEMPTS,
        "volumes_before": volumes_before,
        "volumes_after": _volumes(project),
        "restarted_roles": soak.restarted_roles,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    ev = soak_check.load(folder)
    summary = soak_check.figures(ev, time.time() - started)
    summary["roles_restarted_by_the_harness"] = soak.restarted_roles
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    print("soak figures:", json.dumps(summary))
    problems = {k: v for k, v in soak_check.check(ev).items() if v}
    assert not problems, json.dumps(problems, indent=2) + "\n" + stack.tail()
    assert ev.ops, "the operation log recorded no repair"
    assert final[f"{project.name}/{DOOMED}"]["quarantined"], "the crash loop must be quarantined"
    assert redis_restarted and soak.workers >= 3
