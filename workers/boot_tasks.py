"""The ordered recovery task: one per project after an engine restart."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import Task

from healer.adapters.queue import REPAIR_BOOT
from healer.core.queues import REPAIR_QUEUE
from healer.engine.boot.recovery import recover
from workers.app import RETRY_ON_REDIS_LOSS, app, settings
from workers.tasks import elsewhere, healer


@app.task(
    bind=True,
    name=REPAIR_BOOT,
    **RETRY_ON_REDIS_LOSS,
    max_retries=5,
    # Acked when it starts: a recovery redelivered an hour later (the visibility timeout)
    # would act on a stale picture. If its worker dies, the project's `booting` flag
    # expires and the reconcile takes the project back.
    acks_late=False,
    # It waits for healthchecks on purpose, so its own limit, not the repairs' one: the
    # deadline, plus waiting out repairs in flight for their locks (at most a lock lifetime).
    time_limit=settings.boot_deadline + settings.lock_ttl + 45,
    soft_time_limit=settings.boot_deadline + settings.lock_ttl + 30,
)
def boot_project(
    self: Task, project: str, reason: str = "engine restart", host: str = ""
) -> dict[str, Any]:
    # A recovery acts on one engine: only that host's agent may run it.
    kwargs = {"project": project, "reason": reason}
    if (away := elsewhere(self, host, REPAIR_QUEUE, kwargs)) is not None:
        return away
    result = recover(healer(), project, reason)
    if result.outcome == "busy":
        # Another restart came during a recovery: run again once that one has ended.
        raise self.retry(countdown=2.0, max_retries=int(settings.boot_deadline // 2) + 30)
    return asdict(result)
