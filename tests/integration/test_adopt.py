"""Safe to adopt, for real: docker-autoheal's variables alone run the healer over plain
`docker run` containers; per-service labels tune or switch off a condition; keep_trying
outlasts a dependency's outage; a container stuck in `created` is started; the start-up
reconcile records the intent at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import docker
import docker.errors
import pytest
import redis
from docker.models.containers import Container

from healer.adapters.store.boot import BootStore
from healer.core.model import HostId
from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    unique_project_name,
    wait_until,
)
from tests.support.healer import HealerFactory, HealerStack
from tests.support.waiting import wait_for_reconciles

FOREVER = "exec sleep 2147483647"
# Unhealthy on its first run, healthy from its first restart on: /marker outlives a restart.
HEALS_ON_RESTART = f"if [ -f /marker ]; then touch /tmp/ok; else touch /marker; fi; {FOREVER}"
HEALTHCHECK = {
    "test": ["CMD", "test", "-f", "/tmp/ok"],
    "interval": 1_000_000_000,
    "timeout": 1_000_000_000,
    "retries": 1,
}
# Held in tmpfs, as in tests/integration/test_resource_repairs.py (why there).
HOG_BELOW_LIMIT = "dd if=/dev/zero of=/tmp/hog bs=64k count=416"  # 26 MiB of a 32 MiB limit


def _started(c: Container) -> float:
    c.reload()
    text = str(c.attrs["State"]["StartedAt"])[:26].rstrip("Z")
    return datetime.fromisoformat(text).timestamp()


def _health(c: Container) -> str:
    c.reload()
    return str((c.attrs["State"].get("Health") or {}).get("Status", ""))


def _history(stack: HealerStack) -> list[dict[str, Any]]:
    return stack.history(None, "--limit", "500")  # in-process, the API's body's entries


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server standing in for autoheal's WEBHOOK_URL: (url, bodies received)."""
    bodies: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"bodies": bodies})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    server.shutdown()
    server.server_close()


@pytest.fixture
def plain(docker_client: docker.DockerClient, test_image: str) -> Iterator[Any]:
    """Factory: a `docker run` container (no compose), removed at teardown."""
    made: list[Container] = []

    def run(command: str, labels: dict[str, str] | None = None) -> Container:
        c = docker_client.containers.run(
            test_image,
            ["sh", "-c", command],
            name=unique_project_name("plain"),
            labels=labels or {},
            healthcheck=HEALTHCHECK,
            network_mode="none",
            init=True,
            detach=True,
        )
        made.append(c)
        return c

    yield run
    for c in made:
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True)


def _autoheal_stack(redis_url: str, tmp_path: Path, hook: str) -> HealerStack:
    """`healer run` with docker-autoheal's variables only (plus where Redis is, and a free
    API port and a log folder so it fits on a shared test machine)."""
    keep = ("PATH", "HOME", "PYTHONPATH", "DOCKER_HOST", "LANG")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "AUTOHEAL_CONTAINER_LABEL": "autoheal",
            "AUTOHEAL_INTERVAL": "5",
            "AUTOHEAL_START_PERIOD": "0",
            "AUTOHEAL_DEFAULT_STOP_TIMEOUT": "10",
            "WEBHOOK_URL": hook,
            "REDIS_URL": redis_url,
            "HEALER_API_PORT": str(free_port()),
            "HEALER_LOG_DIR": str(tmp_path / "logs"),
            "HEALER_API_TOKEN": "test-token-0123456789",
            "PYTHONUNBUFFERED": "1",
        }
    )
    (tmp_path / "logs").mkdir(exist_ok=True)
    return HealerStack(env=env, log_dir=tmp_path / "logs")


def test_autoheal_variables_alone_heal_labelled_containers_and_leave_the_rest(
    redis_url: str,
    tmp_path: Path,
    plain: Any,
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    test_image: str,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    hook, bodies = webhook
    stack = _autoheal_stack(redis_url, tmp_path, hook)
    try:
        stack.start("run", [sys.executable, "-m", "healer", "run"])
        r = redis.Redis.from_url(redis_url)
        wait_until(
            lambda: r.keys("healer:heartbeat:events:*"), 90, 0.5, "healer run:\n" + stack.tail()
        )
        project = compose_project(
            compose_yaml(healthy_service_yaml(test_image, "app", command=FOREVER)), wait=False
        )
        rec = docker_events(project)
        unlabelled = plain(FOREVER)
        labelled = plain(HEALS_ON_RESTART, {"autoheal": "true"})
        first = _started(labelled)
        wait_until(lambda: _health(labelled) == "healthy", 60, 0.2, "restart:\n" + stack.tail())
        took = _started(labelled) - first
        print(f"labelled container restarted {took:.1f}s after its first start")
        # Unhealthy after 1-2 s (1 s checks, 1 retry), then the event path acts at once:
        # the healer's usual speed, not one AUTOHEAL_INTERVAL per look.
        assert took < 10
        history = wait_until(
            lambda: [e for e in _history(stack) if e["outcome"] == "acted"], 30, 0.5
        )
        sid = f"-/{labelled.name}"
        print("acted:", [(e["source"], e["ts"] - first) for e in history])
        assert [(e["sid"], e["condition"], e["action"]) for e in history] == [
            (sid, "unhealthy", "restart")
        ]
        wait_until(lambda: bodies, 15, 0.2, "the webhook got nothing")
        assert bodies[0] == {
            "text": f"Container {labelled.name} ({labelled.id[:12]}) found to be unhealthy. "
            "Successfully restarted the container!"
        }
        # The positive signal before asserting nothing else happened: reconciles ran.
        wait_for_reconciles(redis_url, 2)
        assert _health(unlabelled) == "unhealthy" and _started(unlabelled) < first + 30
        assert not rec.events("restart", "app") and not rec.events("kill", "app")
        status = json.loads(stack.cli("status", "--json").stdout)["services"]
        assert list(status) == [sid]
    finally:
        stack.stop_all()


@pytest.mark.serial  # alone: measures the window (a loaded host fails the hog's healthcheck)
def test_memory_window_label_restarts_and_enabled_false_leaves_alone(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    limits = "mem_limit: 32m\nmemswap_limit: 32m"
    # Both labels under test: a 10 s window, and a threshold of 80 % so the hog (about 84 % of
    # its limit) stays clear of the limit itself, where the kernel's OOM killer would act first.
    window = {"healer.memory.window": "10s", "healer.memory.threshold": "0.8"}
    project = compose_project(
        compose_yaml(
            healthy_service_yaml(test_image, "hog", limits, labels=window),
            healthy_service_yaml(
                test_image, "tolerated", limits, labels={**window, "healer.memory.enabled": "false"}
            ),
        ),
        wait=True,
    )
    rec = docker_events(project)
    # The host's memory window stays the default 5 minutes: only the label makes it 10 s.
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="2")
    stack.worker(concurrency=2)
    stack.beat()
    for svc in ("hog", "tolerated"):
        project.container(svc).exec_run(["sh", "-c", HOG_BELOW_LIMIT])
    allocated = time.time_ns()
    restart = rec.wait_for("restart", "hog", timeout=60)[0]
    held = (restart["time_ns"] - allocated) / 1e9
    print(f"hog restarted {held:.1f}s after it allocated (window label: 10s)")
    assert 9 <= held < 35
    wait_for_reconciles(stack.env["REDIS_URL"], 3)
    assert not rec.events("restart", "tolerated"), rec.describe()
    history = _history(stack)
    skipped = [e for e in history if e["sid"].endswith("/tolerated")]
    assert all(e["outcome"] != "acted" for e in skipped), skipped


def test_keep_trying_outlasts_a_dependency_outage_where_quarantine_gives_up(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    test_image: str,
    tmp_path: Path,
) -> None:
    dep = tmp_path / "dep"
    dep.mkdir()
    (dep / "up").touch()
    # Runs while its dependency is up, exits 1 the moment it is not (and at once on a start
    # while it is still down): a stopped container never turns healthy by itself.
    app = "while test -f /dep/up; do sleep 0.2; done; exit 1"
    policy = {"healer.exited.max_attempts": "1", "healer.exited.cooldown": "1s"}
    volumes = f"volumes:\n  - {json.dumps(str(dep) + ':/dep')}"
    project = compose_project(
        compose_yaml(
            healthy_service_yaml(
                test_image,
                "patient",
                volumes,
                command=f"touch /tmp/healthy; {app}",
                labels={**policy, "healer.exited.on_exhausted": "keep_trying"},
            ),
            healthy_service_yaml(
                test_image, "quitter", volumes, command=f"touch /tmp/healthy; {app}", labels=policy
            ),
        ),
        wait=True,
    )
    stack = healer_stack(
        project.name, WATCHDOG_INTERVAL="1", HEALER_BACKOFF_MAX="2", HEALER_VERIFY_TIMEOUT="2"
    )
    stack.worker()
    stack.events()
    stack.beat()
    (dep / "up").unlink()  # the outage: longer than one attempt allows

    def attempts(svc: str, *outcomes: str) -> list[dict[str, Any]]:
        mine = (e for e in _history(stack) if e["sid"].endswith(f"/{svc}"))
        return [e for e in mine if e["outcome"] in outcomes]

    t0 = time.monotonic()
    wait_until(lambda: attempts("quitter", "quarantined"), 60, 0.5, stack.tail())
    print(f"quitter quarantined after {time.monotonic() - t0:.1f}s")
    # A start that exits at once is a failed repair (it is not running when verified).
    wait_until(lambda: len(attempts("patient", "acted", "failed")) >= 3, 60, 0.5, stack.tail())
    print(f"patient tried 3 times after {time.monotonic() - t0:.1f}s")
    (dep / "up").touch()  # the dependency is back
    patient = project.container("patient")
    wait_until(lambda: patient.reload() or patient.status == "running", 30, 0.5, stack.tail())
    time.sleep(2)  # still running: it came back for good, not for one more exit
    patient.reload()
    assert patient.status == "running"
    assert not attempts("patient", "quarantined")
    quitter = project.container("quitter")
    quitter.reload()
    assert quitter.status == "exited"  # quarantined: left down until `healer reset`


def test_a_container_stuck_in_created_is_started(
    compose_project: ComposeFactory, healer_stack: HealerFactory, test_image: str
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "app")), up=False)
    project.run("create")
    app = project.container("app")
    assert app.status == "created"
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="1", HEALER_RESTARTING_GRACE="2")
    stack.worker()
    stack.beat()
    wait_until(lambda: app.reload() or app.status == "running", 60, 0.5, stack.tail())
    acted = [e for e in _history(stack) if e["outcome"] == "acted"]
    assert [(e["condition"], e["action"]) for e in acted] == [("exited", "start")]
    assert "never started" in acted[0]["detail"]


def test_start_up_records_the_intent_and_reconciles_before_the_first_interval(
    compose_project: ComposeFactory, healer_stack: HealerFactory, test_image: str
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "app")), wait=True)
    app = project.container("app")
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="600")
    stack.worker()
    started, t0 = time.monotonic(), time.time()
    stack.events()  # no beat: only the start-up look can record anything
    r = redis.Redis.from_url(stack.env["REDIS_URL"], decode_responses=True)
    host = HostId(stack.env.get("HEALER_HOST") or os.uname().nodename)
    store = BootStore(r, host)
    intended = wait_until(lambda: store.intended(project.name), 30, 0.2, stack.tail())
    assert list(intended) == [app.id]

    # ...and the reconcile ran too: each one writes the worker's heartbeat when it is done.
    def reconciled() -> bool:
        value = r.get(f"healer:heartbeat:worker:{host}")
        return value is not None and float(value) > t0

    wait_until(reconciled, 30, 0.2, "the start-up reconcile:\n" + stack.tail())
    assert time.monotonic() - started < 60  # well before the 600 s interval
