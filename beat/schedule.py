"""Beat's schedule. RedBeat keeps it in Redis behind a lock, so two beats never double-fire."""

from __future__ import annotations

from celery import Celery

from healer.adapters.queue import PROBE_ALL, PROBE_QUEUE, TRIM_HISTORY
from healer.settings import Settings


def install(app: Celery, settings: Settings) -> None:
    app.conf.beat_schedule = {
        "reconcile-all": {
            "task": PROBE_ALL,
            "schedule": settings.watchdog_interval,
            # A probe older than one interval is superseded by the next one: drop it.
            "options": {"queue": PROBE_QUEUE, "expires": settings.watchdog_interval},
        },
        "trim-history": {
            "task": TRIM_HISTORY,
            "schedule": 3600.0,
            "options": {"queue": PROBE_QUEUE, "expires": 3600},
        },
    }
