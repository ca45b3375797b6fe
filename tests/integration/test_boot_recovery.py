"""Ordered recovery, in-process, against the real engine and Redis: what an engine restart
leaves when no container has a restart policy (everything down), recovered in order.

The host's engine is never restarted here: the containers are stopped the way a restart stops
them, after the engine was recorded alive, and the engine's replay of their ``die`` events is
hidden, as a new engine holds none of those its predecessor emitted while shutting down;
tests/e2e/test_boot_order.py restarts a private engine for real.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from healer.adapters.store import keys
from healer.adapters.store.boot import boot_series
from healer.core.boot.detect import engine_time
from healer.core.model import ServiceId
from healer.engine.boot.check import restarted_projects
from healer.engine.boot.recovery import recover
from healer.engine.context import Healer, build
from healer.engine.probe import probe
from healer.settings import Settings
from tests.support import (
    ComposeFactory,
    ComposeProject,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
)
from tests.support.healer import NoDispatch


@pytest.fixture
def make_healer(redis_url: str, tmp_path: Path) -> Iterator[Callable[[ComposeProject], Healer]]:
    built: list[Healer] = []

    def make(project: ComposeProject) -> Healer:
        s = Settings(
            redis_url=redis_url,
            projects=project.name,
            log_dir=tmp_path / "logs",
            boot_poll_interval=0.1,
            boot_timeout=30,
            resource_monitoring=False,
        )
        h = build(s, NoDispatch())
        built.append(h)
        return h

    yield make
    for h in built:
        h.stores.close()
        h.engine.client.close()


def _stack(image: str) -> str:
    slow_db = "sleep 2; touch /tmp/healthy; exec sleep 2147483647"
    # Many retries: on a loaded machine a probe can miss its 1 s timeout now and then.
    return compose_yaml(
        healthy_service_yaml(image, "db", command=slow_db, retries=30),
        healthy_service_yaml(
            image, "app", "depends_on:\n  db:\n    condition: service_healthy", retries=30
        ),
        healthy_service_yaml(
            image, "cache", "depends_on:\n  db:\n    condition: service_started", retries=30
        ),
    )


def test_containers_down_after_a_restart_are_started_in_dependency_order(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    make_healer: Callable[[ComposeProject], Healer],
    redis_client: redis.Redis,
    test_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = compose_project(_stack(test_image), wait=True)
    h = make_healer(project)
    monkeypatch.setattr(h.engine, "replay", lambda until: [])  # a new engine's: empty
    store = h.stores.boot
    probe(h)  # a reconcile records what runs
    assert sorted(store.intended(project.name).values()) == [
        f"{project.name}/{s}" for s in ("app", "cache", "db")
    ], project.run("ps", "-a").stdout
    # An operator had stopped cache by hand before the restart: it stays down.
    cache = project.container("cache")
    cache.stop(timeout=0)
    h.state.mark_manual_stop(cache.id)
    time.sleep(0.05)
    store.engine_alive(engine_time(h.engine.system_time()))
    # The restart stops everything; restart: "no" brings nothing back.
    for svc in ("app", "db"):
        project.container(svc).stop(timeout=0)
    rec = docker_events(project.name)

    assert restarted_projects(h.engine, store, 60) == [project.name]
    assert redis_client.exists(keys.booting(h.host, project.name))
    # The check ran after the stops it counted: a second one sees a live engine.
    assert restarted_projects(h.engine, store, 60) == []

    result = recover(h, project.name, "engine restart")

    assert result.outcome == "boot", result
    db_start = rec.wait_for("start", "db", timeout=5)[0]["time_ns"]
    db_ok = rec.wait_for("health_status: healthy", "db", timeout=5)[0]["time_ns"]
    app_start = rec.wait_for("start", "app", timeout=5)[0]["time_ns"]
    assert db_start < db_ok < app_start, rec.describe()
    assert not rec.events("start", "cache"), "a hand-stopped container stays down"
    entries = [e for e in h.history.query(service=project.name) if e.sid == project.name]
    assert [e.outcome for e in entries] == ["boot"]
    assert json.loads(entries[0].extra["order"]) == [f"{project.name}/{s}" for s in ("db", "app")]
    assert not redis_client.exists(keys.booting(h.host, project.name))
    assert not list(
        redis_client.scan_iter(match=keys.episode_pattern(h.host, ServiceId(f"{project.name}/*")))
    )
    status = store.statuses()[project.name]
    assert status["state"] == "done" and status["started"] == [
        f"{project.name}/db",
        f"{project.name}/app",
    ]
    series = {m.name: m for m in boot_series(redis_client)}
    durations = {
        s.labels["project"]: s.value
        for s in series["healer_boot_recovery_duration_seconds"].samples
    }
    assert durations[project.name] == pytest.approx(result.seconds, abs=0.01)
    running = {
        s.labels["project"]: s.value for s in series["healer_boot_recovery_in_progress"].samples
    }
    assert running[project.name] == 0.0


# Exits 3 by itself once /tmp/crash exists (/tmp is a tmpfs: a new run starts without it).
CRASHING = "touch /tmp/healthy; until [ -f /tmp/crash ]; do sleep 0.1; done; exit 3"


def test_a_container_that_crashes_or_is_restarted_under_the_same_engine_is_no_restart(
    compose_project: ComposeFactory,
    make_healer: Callable[[ComposeProject], Healer],
    test_image: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A healer process restarted (crash, upgrade) right after the one container of a
    project crashed, or after the healer started it again: the engine that answers now
    still holds events from before, or at least the container's ``die``: no restart."""
    project = compose_project(
        compose_yaml(healthy_service_yaml(test_image, "web", command=CRASHING)), wait=True
    )
    h = make_healer(project)
    store = h.stores.boot
    probe(h)
    web = project.container("web")
    assert list(store.intended(project.name)) == [web.id]
    alive = engine_time(h.engine.system_time())
    store.engine_alive(alive)
    time.sleep(0.05)

    def crash() -> None:
        web.exec_run(["touch", "/tmp/crash"])
        assert web.wait(timeout=10)["StatusCode"] == 3

    crash()  # down now, stopped since the engine was last seen alive
    with caplog.at_level(logging.INFO, logger="healer.boot"):
        assert restarted_projects(h.engine, store, 60) == []
    assert "still holds events of its own from before then" in caplog.text, caplog.text
    assert f"{project.name}/web" in caplog.text

    # A busy engine's buffer rolled over since: only the events after `alive` are left.
    real_replay = h.engine.replay
    monkeypatch.setattr(
        h.engine,
        "replay",
        lambda until: [e for e in real_replay(until) if e["timeNano"] / 1e9 > alive + 0.01],
    )
    store.engine_alive(alive)
    with caplog.at_level(logging.INFO, logger="healer.boot"):
        assert restarted_projects(h.engine, store, 60) == []
    assert "saw each of them crash" in caplog.text, caplog.text

    web.start()  # the healer's repair: running, started since
    store.engine_alive(alive)
    assert restarted_projects(h.engine, store, 60) == []

    # A stop through the API (by hand, or a shutting-down engine's) starts with a kill: it
    # still counts, as the engine's own stops at a restart do.
    web.kill()
    store.engine_alive(alive)
    assert restarted_projects(h.engine, store, 60) == [project.name]


def test_a_dependency_that_never_gets_healthy_times_out_and_says_which(
    compose_project: ComposeFactory,
    make_healer: Callable[[ComposeProject], Healer],
    redis_client: redis.Redis,
    test_image: str,
) -> None:
    never = "exec sleep 2147483647"  # never touches /tmp/healthy
    healthy_db = "depends_on:\n  db:\n    condition: service_healthy"
    text = compose_yaml(
        healthy_service_yaml(
            test_image, "db", command=never, retries=1000, labels={"healer.boot.timeout": "3s"}
        ),
        healthy_service_yaml(
            test_image,
            "app",
            healthy_db,
            labels={"healer.boot.timeout": "2s", "healer.boot.start_anyway": "true"},
        ),
        healthy_service_yaml(
            test_image, "worker", healthy_db, labels={"healer.boot.timeout": "2s"}
        ),
    )
    project = compose_project(text, up=False)
    project.up("db")  # db never turns healthy, so `up` of the rest would wait forever
    project.run("create", "app", "worker")
    h = make_healer(project)
    probe(h)
    # app and worker were meant to run (say, db's healthcheck used to pass).
    redis_client.hset(
        keys.intent(h.host, project.name),
        mapping={
            project.container(s).id: json.dumps({"sid": f"{project.name}/{s}"})
            for s in ("app", "worker")
        },
    )
    result = recover(h, project.name, "engine restart")
    timeouts = {e.sid: e for e in h.history.query() if e.outcome == "boot_timeout"}
    app, worker = f"{project.name}/app", f"{project.name}/worker"
    assert sorted(timeouts) == [app, worker], timeouts
    assert timeouts[worker].reason == f"blocked by {project.name}/db"
    assert timeouts[worker].condition == "service_healthy"
    assert "left down" in timeouts[worker].detail
    assert "started anyway" in timeouts[app].detail
    assert project.container("worker").status != "running"
    assert project.container("app").status == "running"
    assert result.outcome == "boot", result  # every service settled: ready, failed or given up
    assert "worker timed out waiting for" in result.detail
    assert result.seconds < 10, "every wait ended with its own timeout"
    counts = redis_client.hgetall("healer:metrics:boot")
    assert counts[f"timeouts|{h.host}|{project.name}|{worker}|{project.name}/db"] == "1"
