"""RedBeat, made to survive a Redis restart.

Stock RedBeat lets a Redis error escape `tick()`, which ends the beat process; and a Redis
that comes back empty has lost both the lock and the schedule entries. Here a connection
error just waits for the next tick, and a lost lock is taken again (or waited for, if another
beat has it meanwhile) with the schedule reinstalled.

Every tick also runs the between-cycles scale check (healer.adapters.scale_trigger): only the
beat holding the lock ticks, so the check runs once however many beats stand by.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import Celery
from redbeat import RedBeatScheduler

from healer.adapters.queue import SCALE_TRIGGERED
from healer.adapters.redis_conn import connect
from healer.adapters.scale_queue_depth import CeleryQueues
from healer.adapters.scale_state import ScaleStore
from healer.adapters.scale_trigger import ScaleTrigger
from healer.core.model import ServiceId
from healer.core.queues import SCALE_QUEUE

log = logging.getLogger("healer.beat")

CHECK_EVERY = 1.0  # seconds between two scale checks (a check is three Redis round trips)


def _make_trigger(app: Celery) -> ScaleTrigger:
    r = connect(app.conf.broker_url)
    queues = CeleryQueues(r, app)

    def send(sid: ServiceId) -> None:
        app.send_task(SCALE_TRIGGERED, kwargs={"sid": sid}, queue=SCALE_QUEUE)

    return ScaleTrigger(ScaleStore(r), queues.backlog, send)


class ResilientScheduler(RedBeatScheduler):  # type: ignore[misc]
    _trigger: ScaleTrigger | None = None
    _checked_at = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            delay = float(super().tick(*args, **kwargs))
        except redis.exceptions.LockError:
            return self._reacquire()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("beat: Redis unavailable (%s); retrying", exc)
            return 1.0
        self._check_scale()
        return delay

    def _check_scale(self) -> None:
        """The between-cycles scale check, at most once a second, by the beat that ticks."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY:
            return
        self._checked_at = now
        try:
            if self._trigger is None:
                self._trigger = _make_trigger(self.app)
            self._trigger.check()
        except redis.RedisError as exc:
            log.warning("beat: scale check skipped (%s)", exc)

    def _reacquire(self) -> float:
        try:
            if self.lock is not None and self.lock.acquire(blocking=False):
                log.warning("beat: lock was lost (Redis restarted?); re-acquired it")
                self.setup_schedule()
                return 0.0
        except redis.RedisError as exc:
            log.warning("beat: cannot re-acquire the lock yet (%s)", exc)
        return float(self.max_interval)
