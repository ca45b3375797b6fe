"""RedBeat, made to survive a Redis restart, and fanning per-host work out to every host.

Stock RedBeat lets a Redis error escape `tick()`, which ends the beat process; and a Redis
that comes back empty has lost both the lock and the schedule entries. Here a connection
error just waits for the next tick, and a lost lock is taken again (or waited for, if another
beat has it meanwhile) with the schedule reinstalled.

Only the beat holding the RedBeat lock sends anything, so the fan-out happens once per due
entry for the whole cluster: one task per live host (by heartbeat), on that host's queue. A
host that is down gets none; its queue does not pile up reconciles it would run on return.

Every tick also runs the between-cycles scale check (healer.adapters.scaling.trigger) for each
live host in the beat's scope: only the beat holding the lock ticks, so the check runs once
however many beats stand by, and a cycle it asks for goes to the service's host's queue.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import Celery
from redbeat import RedBeatScheduler

from healer.adapters.queue import HOST_TASKS, SCALE_TRIGGERED
from healer.adapters.scaling.queue_depth import CeleryQueues
from healer.adapters.scaling.state import ScaleStore
from healer.adapters.scaling.trigger import ScaleTrigger
from healer.adapters.store.connection import connect
from healer.adapters.store.hosts import HostRegistry
from healer.core.hosts import in_scope
from healer.core.model import HostId, ServiceId
from healer.core.queues import SCALE_QUEUE, host_queue

log = logging.getLogger("healer.beat")

CHECK_EVERY = 1.0  # seconds between two scale checks (a check is three Redis round trips)


def _make_trigger(app: Celery, host: HostId) -> ScaleTrigger:
    """The check of one host's queue-scaled services; a cycle goes to that host's queue."""
    r = connect(app.conf.get("healer_redis") or app.conf.broker_url)
    queues = CeleryQueues(r, app)

    def send(sid: ServiceId) -> None:
        app.send_task(
            SCALE_TRIGGERED,
            kwargs={"sid": sid, "host": host},
            queue=host_queue(SCALE_QUEUE, host),
            ignore_result=True,
        )

    return ScaleTrigger(ScaleStore(r, host), queues.backlog, send)


class ResilientScheduler(RedBeatScheduler):  # type: ignore[misc]
    _registry: HostRegistry | None = None
    _triggers: dict[HostId, ScaleTrigger] | None = None
    _checked_at = 0.0

    def apply_async(
        self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        kind = HOST_TASKS.get(entry.task)
        if kind is None:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        entry = self.reserve(entry) if advance else entry
        result = None
        for host in self.live_hosts():
            # ignore_result: nobody waits for a scheduled task's result, and a producer that
            # might would subscribe to its result channel first (two round trips per send).
            options = {**entry.options, "queue": host_queue(kind, host), "ignore_result": True}
            options.setdefault("headers", {})["celery_beat_task"] = True
            result = self.send_task(
                entry.task, (), {**(entry.kwargs or {}), "host": host}, producer=producer, **options
            )
        return result

    def live_hosts(self, *, quiet: bool = False) -> list[HostId]:
        if self._registry is None:
            where = self.app.conf.get("healer_redis") or self.app.conf.broker_url
            self._registry = HostRegistry(connect(where), self.app.conf.healer_host_down_after)
        patterns = tuple(self.app.conf.healer_beat_hosts or ())
        hosts = [h for h in self._registry.live() if in_scope(h, patterns)]
        if not hosts and not quiet:
            log.warning("beat: no live host in %s; nothing to fan out", patterns or "the cluster")
        return hosts

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
        """The between-cycles scale check of every live host in scope, at most once a second,
        by the beat that ticks."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY:
            return
        self._checked_at = now
        try:
            if self._triggers is None:
                self._triggers = {}
            for host in self.live_hosts(quiet=True):
                if host not in self._triggers:
                    self._triggers[host] = _make_trigger(self.app, host)
                self._triggers[host].check()
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
