"""The Celery app. Settings are read here, at the worker's entry point, and nowhere deeper."""

from __future__ import annotations

from typing import Any

import redis

from healer.adapters.hardening.environ import keep_environ_private
from healer.adapters.queue import make_celery
from healer.settings import Settings

settings = Settings()
keep_environ_private()  # worker, beat and Flower: their environ holds the Redis password
app = make_celery(settings)

# Every task's options for a lost Redis (broker and state store): retried with backoff, each
# task saying how often (max_retries) by what a late run is still worth.
RETRY_ON_REDIS_LOSS: dict[str, Any] = {
    "autoretry_for": (redis.ConnectionError,),
    "retry_backoff": True,
}

# Imported for their side effect of registering the tasks (and the worker's host wiring).
from beat import schedule  # noqa: E402
from workers import boot_tasks, conf_view, embedded, host_agent, scale_tasks, tasks  # noqa: E402, F401

schedule.install(app, settings)
embedded.install(app)
