"""The Docker engine restarted under a running healer, on a PRIVATE dockerd (own socket, data
root, exec root, pid file; no bridge, no iptables) so the host's engine is never touched.

- The restart stops every container; the healer catches those failures (reconcile, or the
  watcher's replay from its cursor) and starts each service exactly once.
- The events watcher reconnects by itself (its heartbeat comes back), and a crash after the
  restart is repaired through the event path again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.adapters.store import keys
from healer.api.app import create_app
from healer.core.model import HostId
from healer.settings import Settings
from tests.chaos.conftest import StackFactory, project_on
from tests.integration.test_alerts_api import AUTH, OPERATOR, alert, only, post, serve, wait_done
from tests.support import (
    ComposeProject,
    EventRecorder,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.dockerd import PrivateEngine

SERVICES = ("web", "db")
TOKEN = OPERATOR["Authorization"].split()[1]
COOLDOWN = 5


@pytest.fixture
def engine_project(
    private_engine: PrivateEngine, test_image: str, tmp_path: Path
) -> Iterator[ComposeProject]:
    # retries=3: a healthcheck racing the command's first `touch` after the engine's restart
    # is not a failure this test is about.
    yaml = compose_yaml(*(healthy_service_yaml(test_image, s, retries=3) for s in SERVICES))
    project = project_on(private_engine.url, private_engine.client, tmp_path / "p", yaml, "eng")
    project.up(wait=True)
    yield project
    project.run("down", "-t", "0", check=False)


@pytest.mark.serial  # alone: exact start counts after a restart; load fails healthchecks
def test_an_engine_restart_is_healed_once_and_the_watcher_reconnects(
    private_engine: PrivateEngine,
    engine_project: ComposeProject,
    chaos_stack: StackFactory,
    redis_url: str,
) -> None:
    project = engine_project
    stack = chaos_stack(
        redis_url,
        project.name,
        DOCKER_HOST=private_engine.url,
        WATCHDOG_INTERVAL="20",
        RESTART_COOLDOWN=str(COOLDOWN),
    )
    stack.worker()
    stack.events()
    stack.beat()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    settings = Settings(redis_url=redis_url)
    host = HostId(settings.host)  # HEALER_HOST, by default the hostname

    private_engine.restart()
    project.client = private_engine.client  # the old client's pooled sockets died
    rec = EventRecorder(private_engine.client, project.name)
    try:
        first = [rec.wait_for("start", s, timeout=90)[0] for s in SERVICES]
        # The watcher is back: its heartbeat is written only while subscribed.
        r.delete(keys.heartbeat("events", host))
        wait_until(
            lambda: r.exists(keys.heartbeat("events", host)),
            timeout=60,
            message="the events watcher to reconnect:\n" + stack.tail(),
        )
        # A crash now, past the first repair's cooldown, must go through the event path
        # (a reconcile may be 20 s away).
        ready_at = max(e["time_ns"] for e in first) / 1e9 + COOLDOWN
        wait_until(lambda: time.time() > ready_at, timeout=COOLDOWN + 5)
        web = project.container("web")
        web.kill()
        rec.wait_for("start", "web", count=2, timeout=15)
        # Positive signal of a later reconcile (asked for now, not WATCHDOG_INTERVAL away),
        # then: nothing was acted on twice.
        seen = float(r.get(keys.heartbeat("worker", host)) or 0)
        app = make_celery(settings)
        CeleryDispatcher(app, host).probe_all()
        app.close()
        wait_until(
            lambda: float(r.get(keys.heartbeat("worker", host)) or 0) > seen,
            timeout=60,
            message="a reconcile after the repairs",
        )
        assert len(rec.events("start", "db")) == 1, rec.describe()
        assert len(rec.events("start", "web")) == 2, rec.describe()
    finally:
        rec.stop()
        r.close()


def test_a_cleanup_alert_request_is_finished(
    private_engine: PrivateEngine,
    chaos_stack: StackFactory,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """Item 3: a cleanup queued by an alert closes its request record. On the private engine,
    so the real cleanup touches nobody else's images or containers."""
    # An alert's cleanup keeps the disk threshold: a tiny one, so this disk is "full".
    stack = chaos_stack(
        redis_url, "chtest-none", DOCKER_HOST=private_engine.url, HEALER_DISK_THRESHOLD="0.0001"
    )
    stack.worker()
    settings = Settings(
        redis_url=redis_url,
        docker_host=private_engine.url,
        projects="chtest-none",
        api_token=TOKEN,
        alerts_token=AUTH["Authorization"].split()[1],
        log_dir=tmp_path / "api-logs",
    )
    with serve(create_app(settings)) as url:
        sent = alert("host", alertname="DiskSpaceLow", action="cleanup")
        queued = only(post(url, sent))
        assert queued["decision"] == "queued", queued
        done = wait_done(url, queued["task_id"])
    assert (done["status"], done["outcome"]) == ("done", "acted"), done
    assert "bytes" in done["detail"]
