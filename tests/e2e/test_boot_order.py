"""Ordered recovery after an engine restart, for real: a three-tier project on a private
dockerd (never the host's engine) is restarted twice, first with no healer, then with one.

Without the healer Docker's restart policy starts db, app and worker at once: app runs
before db is healthy and before the migration ran. With it, Docker's own event stream shows
app's last start after db's `health_status: healthy` and after migrate's exit 0, and
worker's last start after app is healthy. Both runs print the time from the engine answering
again to the whole project healthy.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import (
    ComposeProject,
    FollowingEventRecorder,
    PrivateEngine,
    RecordedEvent,
    unique_project_name,
    wait_until,
)
from tests.support.healer import HealerFactory

DB_READY_AFTER = 5  # seconds db takes to pass its healthcheck: a database replaying a journal
DEADLINE = 120  # bound on every wait of this test


def _compose_yaml(image: str) -> str:
    def healthcheck(retries: int) -> str:
        return (
            "    healthcheck:\n"
            '      test: ["CMD", "test", "-f", "/tmp/healthy"]\n'
            "      interval: 1s\n"
            "      timeout: 1s\n"
            f"      retries: {retries}\n"
        )

    common = f"    image: {json.dumps(image)}\n    network_mode: none\n"
    forever = "exec sleep 2147483647"
    slow = f"sleep {DB_READY_AFTER}; touch /tmp/healthy; {forever}"
    return (
        "services:\n"
        "  db:\n" + common + "    init: true\n    restart: unless-stopped\n    tmpfs: [/tmp]\n"
        f"    command: {json.dumps(['sh', '-c', slow])}\n"
        + healthcheck(DB_READY_AFTER * 3)
        + "  migrate:\n"
        + common
        + '    restart: "no"\n'
        + f"    command: {json.dumps(['sh', '-c', 'sleep 1; exit 0'])}\n"
        + "    depends_on:\n      db: {condition: service_healthy}\n"
        + "  app:\n"
        + common
        + "    init: true\n    restart: unless-stopped\n    tmpfs: [/tmp]\n"
        + f"    command: {json.dumps(['sh', '-c', f'touch /tmp/healthy; {forever}'])}\n"
        + healthcheck(10)  # a loaded machine can miss a 1 s probe timeout now and then
        + "    depends_on:\n"
        + "      db: {condition: service_healthy, restart: true}\n"
        + "      migrate: {condition: service_completed_successfully}\n"
        + "  worker:\n"
        + common
        + "    init: true\n    restart: unless-stopped\n"
        + f"    command: {json.dumps(['sh', '-c', forever])}\n"
        + '    labels: {"healer.boot.order": "strict"}\n'
        + "    depends_on:\n      app: {condition: service_healthy}\n"
    )


# Alone: engine restarts, and the order is asserted on start times a second apart.
pytestmark = pytest.mark.serial


@pytest.fixture
def three_tier(
    private_engine: PrivateEngine, test_image: str, tmp_path: Path
) -> Iterator[ComposeProject]:
    name = unique_project_name("boot")
    folder = tmp_path / name
    folder.mkdir()
    file = folder / "compose.yaml"
    file.write_text(_compose_yaml(test_image))
    project = ComposeProject(
        name=name, dir=folder, file=file, client=private_engine.client, env=private_engine.env()
    )
    try:
        project.up(wait=True, timeout=DEADLINE)
        yield project
    finally:
        project.client = private_engine.client  # the one of the engine's latest start
        project.down()


def _after(events: list[RecordedEvent], mark_ns: int) -> list[RecordedEvent]:
    return [e for e in events if e["time_ns"] >= mark_ns]


def _first(events: list[RecordedEvent], after_ns: int = 0) -> int:
    times = [e["time_ns"] for e in events if e["time_ns"] >= after_ns]
    assert times, "no such event"
    return min(times)


class Timeline:
    """The events of one engine restart, from the moment it was asked to restart."""

    def __init__(self, rec: FollowingEventRecorder, mark_ns: int) -> None:
        self.rec, self.mark = rec, mark_ns

    def of(self, action: str, service: str) -> list[RecordedEvent]:
        return _after(self.rec.events(action, service), self.mark)

    def starts(self, service: str) -> list[int]:
        return [e["time_ns"] for e in self.of("start", service)]

    def healthy(self, service: str, after_ns: int = 0) -> int:
        return _first(self.of("health_status: healthy", service), max(after_ns, self.mark))

    def project_healthy(self) -> int:
        """Engine time the whole project was good: db and app healthy, worker running."""
        app_start = max(self.starts("app"))
        return max(self.healthy("db"), self.healthy("app", app_start), max(self.starts("worker")))


def _wait_healthy(rec: FollowingEventRecorder, mark_ns: int, worker_starts: int) -> Timeline:
    t = Timeline(rec, mark_ns)

    def settled() -> bool:
        try:
            if len(t.starts("worker")) < worker_starts:
                return False
            t.project_healthy()
        except (AssertionError, ValueError):
            return False
        return True

    wait_until(
        settled, timeout=DEADLINE, interval=0.2, message="project healthy:\n" + rec.describe()
    )
    return t


def _history(r: redis.Redis, project: str) -> list[dict[str, str]]:
    return [fields for _, fields in r.xrange("healer:history") if fields.get("sid") == project]


def test_engine_restart_recovers_the_project_in_depends_on_order(
    private_engine: PrivateEngine,
    three_tier: ComposeProject,
    healer_stack: HealerFactory,
    redis_client: redis.Redis,
) -> None:
    engine, project = private_engine, three_tier

    # --- 1. no healer: Docker's restart policy starts everything at once -------------------
    rec = FollowingEventRecorder(engine.new_client, project.name)
    mark = time.time_ns()
    back = engine.restart()
    plain = _wait_healthy(rec, mark, worker_starts=1)
    rec.stop()
    starts = {s: plain.starts(s) for s in ("db", "app", "worker")}
    assert all(len(v) == 1 for v in starts.values()), rec.describe()
    spread = max(v[0] for v in starts.values()) - min(v[0] for v in starts.values())
    assert spread < 2e9, f"the engine started them {spread / 1e9:.2f}s apart:\n{rec.describe()}"
    assert starts["app"][0] < plain.healthy("db"), "app started before db was healthy"
    assert not plain.of("start", "migrate"), "nothing ran the migration again"
    without = (plain.project_healthy() - back * 1e9) / 1e9

    # --- 2. with the healer ------------------------------------------------------------
    stack = healer_stack(
        project.name,
        DOCKER_HOST=engine.url,
        WATCHDOG_INTERVAL="1",
        HEALER_BOOT_POLL_INTERVAL="0.2",
        HEALER_BOOT_TIMEOUT="60",
        HEALER_RESOURCE_MONITORING="false",
    )
    stack.worker("w1", concurrency=2)
    stack.events()
    stack.beat()
    # keys.intent(host, project) and keys.engine_alive(host) of the stack's host.
    host = stack.env.get("HEALER_HOST") or socket.gethostname()
    intent = f"healer:boot:intent:{host}/{project.name}"
    wait_until(
        lambda: (
            len(redis_client.hgetall(intent)) == 3
            and redis_client.exists(f"healer:boot:engine_alive:{host}")
        ),
        timeout=60,
        message="the healer to learn what runs:\n" + stack.tail(),
    )
    rec = FollowingEventRecorder(engine.new_client, project.name)
    mark = time.time_ns()
    back = engine.restart()

    # `healer status` shows the recovery while it runs (db takes DB_READY_AFTER seconds).
    status_key = f"healer:boot:status:{host}/{project.name}"

    def running() -> dict[str, object]:
        raw = redis_client.get(status_key)
        data = json.loads(raw) if raw else {}
        return data if data.get("state") == "running" and data.get("waiting") else {}

    wait_until(running, timeout=30, interval=0.1, message="a running recovery:\n" + stack.tail())
    shown = stack.read("status")
    assert f"RECOVERING {project.name}" in shown, shown
    assert f"{project.name}/app" in shown, shown

    def boot_entry() -> dict[str, str] | None:
        return next(
            (e for e in _history(redis_client, project.name) if e["outcome"] == "boot"), None
        )

    entry = wait_until(
        boot_entry, timeout=DEADLINE, interval=0.2, message="a boot episode:\n" + stack.tail(80)
    )
    healed = _wait_healthy(rec, mark, worker_starts=2)
    rec.stop()
    events = rec.describe()

    db_healthy = healed.healthy("db")
    migrated = [e for e in healed.of("die", "migrate") if e["attributes"].get("exitCode") == "0"]
    assert migrated, events
    app_last = max(healed.starts("app"))
    worker_last = max(healed.starts("worker"))
    assert app_last > db_healthy, events
    assert app_last > migrated[-1]["time_ns"], events
    assert worker_last > healed.healthy("app", app_last), events
    # The engine had started app early; the healer took it down and started it in turn.
    assert min(healed.starts("app")) < db_healthy, events
    assert healed.of("stop", "app") or healed.of("die", "app"), events
    with_healer = (healed.project_healthy() - back * 1e9) / 1e9

    extra = json.loads(entry["extra"])
    assert json.loads(extra["order"]) == [
        f"{project.name}/{s}" for s in ("migrate", "app", "worker")
    ]
    assert float(extra["total_seconds"]) > DB_READY_AFTER - 2
    assert "waited" in entry["detail"] and f"{project.name}/db service_healthy" in entry["detail"]
    # Ordered recovery is not a repair: no attempts, no cooldowns were charged.
    assert not list(redis_client.scan_iter(match=f"healer:episode:{host}/{project.name}/*")), (
        "charged"
    )
    assert redis_client.hget("healer:metrics:boot", f"duration|{host}|{project.name}") is not None
    assert not redis_client.exists(f"healer:boot:booting:{host}/{project.name}")

    print(
        f"\nengine back → project healthy: {without:.1f}s without the healer (app up "
        f"{(plain.healthy('db') - starts['app'][0]) / 1e9:.1f}s before db was healthy), "
        f"{with_healer:.1f}s with it, in depends_on order ({entry['detail']})"
    )
