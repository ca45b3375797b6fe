"""RedBeat, made to survive a Redis restart, and fanning per-host work out to every host.

Stock RedBeat lets a Redis error escape `tick()`, which ends the beat process; and a Redis
that comes back empty has lost both the lock and the schedule entries. Here a connection
error just waits for the next tick, and a lost lock is taken again (or waited for, if another
beat has it meanwhile) with the schedule reinstalled.

Only the beat holding the RedBeat lock sends anything, so the fan-out happens once per due
entry for the whole cluster: one task per live host (by heartbeat), on that host's queue. A
host that is down gets none; its queue does not pile up reconciles it would run on return.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redbeat import RedBeatScheduler

from healer.adapters.hosts import HostRegistry
from healer.adapters.queue import HOST_TASKS
from healer.adapters.redis_conn import connect
from healer.core.hosts import in_scope
from healer.core.model import HostId
from healer.core.queues import host_queue

log = logging.getLogger("healer.beat")


class ResilientScheduler(RedBeatScheduler):  # type: ignore[misc]
    _registry: HostRegistry | None = None

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

    def live_hosts(self) -> list[HostId]:
        if self._registry is None:
            url = self.app.conf.redbeat_redis_url or self.app.conf.broker_url
            self._registry = HostRegistry(connect(url), self.app.conf.healer_host_down_after)
        patterns = tuple(self.app.conf.healer_beat_hosts or ())
        hosts = [h for h in self._registry.live() if in_scope(h, patterns)]
        if not hosts:
            log.warning("beat: no live host in %s; nothing to fan out", patterns or "the cluster")
        return hosts

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            return float(super().tick(*args, **kwargs))
        except redis.exceptions.LockError:
            return self._reacquire()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("beat: Redis unavailable (%s); retrying", exc)
            return 1.0

    def _reacquire(self) -> float:
        try:
            if self.lock is not None and self.lock.acquire(blocking=False):
                log.warning("beat: lock was lost (Redis restarted?); re-acquired it")
                self.setup_schedule()
                return 0.0
        except redis.RedisError as exc:
            log.warning("beat: cannot re-acquire the lock yet (%s)", exc)
        return float(self.max_interval)
