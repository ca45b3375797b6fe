"""Beat's schedule. RedBeat keeps it in Redis behind a lock, so two beats never double-fire."""

from __future__ import annotations

from celery import Celery

from beat.scheduler import ResilientScheduler
from healer.adapters.queue import CHECK_DISK, PROBE_ALL, SCALE_CYCLE, TRIM_HISTORY
from healer.core.queues import PROBE_QUEUE, SCALE_QUEUE
from healer.settings import Settings


def install(app: Celery, settings: Settings) -> None:
    # RedBeat behind a lock (one active beat), hardened against Redis restarts.
    app.conf.beat_scheduler = f"{ResilientScheduler.__module__}:{ResilientScheduler.__qualname__}"
    app.conf.beat_schedule = {
        "reconcile-all": {
            "task": PROBE_ALL,
            "schedule": settings.watchdog_interval,
            # A probe older than one interval is superseded by the next one: drop it.
            "options": {"queue": PROBE_QUEUE, "expires": settings.watchdog_interval},
        },
        "autoscale": {
            "task": SCALE_CYCLE,
            "schedule": settings.scaler_interval,
            "options": {"queue": SCALE_QUEUE, "expires": settings.scaler_interval},
        },
        "disk": {
            "task": CHECK_DISK,
            "schedule": settings.disk_interval,
            "options": {"queue": PROBE_QUEUE, "expires": settings.disk_interval},
        },
        "trim-history": {
            "task": TRIM_HISTORY,
            "schedule": 3600.0,
            "options": {"queue": PROBE_QUEUE, "expires": 3600},
        },
    }
