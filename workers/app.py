"""The Celery app. Settings are read here, at the worker's entry point, and nowhere deeper."""

from __future__ import annotations

from typing import Any

import redis

from beat import schedule
from healer.adapters.hardening.environ import keep_environ_private
from healer.adapters.queue import make_celery
from healer.settings import Settings
from workers import conf_view, embedded  # noqa: F401  (conf_view: see below)

settings = Settings()
keep_environ_private()  # worker, beat and Flower: their environ holds the Redis password
app = make_celery(settings)

# Every task's options for a lost Redis (broker and state store): retried with backoff, each
# task saying how often (max_retries) by what a late run is still worth.
RETRY_ON_REDIS_LOSS: dict[str, Any] = {
    "autoretry_for": (redis.ConnectionError,),
    "retry_backoff": True,
}

# The task modules import `app`, so the app does not import them: Celery's loader does, when a
# worker starts (producers send by task name and need none of them). host_agent wires the
# worker's own host queues and heartbeat through worker signals. conf_view (imported above)
# replaces the worker's `conf` inspect command on import; it does not import the app.
app.conf.include = [
    "workers.tasks",
    "workers.scale_tasks",
    "workers.boot_tasks",
    "workers.host_agent",
]
schedule.install(app, settings)
embedded.install(app)
