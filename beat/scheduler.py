"""RedBeat, made to survive a Redis restart.

Stock RedBeat lets a Redis error escape `tick()`, which ends the beat process; and a Redis
that comes back empty has lost both the lock and the schedule entries. Here a connection
error just waits for the next tick, and a lost lock is taken again (or waited for, if another
beat has it meanwhile) with the schedule reinstalled.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redbeat import RedBeatScheduler

log = logging.getLogger("healer.beat")


class ResilientScheduler(RedBeatScheduler):  # type: ignore[misc]
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
