"""`healer run`'s beat runs as a thread of the worker: it must schedule with the app's RedBeat
scheduler (one active beat per cluster, by lock), not Celery's default file scheduler."""

from __future__ import annotations

from celery import Celery

from beat.schedule import install
from beat.scheduler import ResilientScheduler
from healer.settings import Settings
from workers.embedded import beat_role


def test_the_embedded_beat_schedules_with_the_apps_scheduler() -> None:
    app = Celery("t", broker="memory://")
    install(app, Settings(redis_url="redis://127.0.0.1:6379/15"))
    service = beat_role(app)._run.__self__  # type: ignore[attr-defined]
    assert service.scheduler_cls == app.conf.beat_scheduler
    assert service.get_scheduler(lazy=True).__class__ is ResilientScheduler
