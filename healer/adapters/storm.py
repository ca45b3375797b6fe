"""State of the repair-storm brake in Redis (the decision is healer.core.storm)."""

from __future__ import annotations

import redis

from healer.adapters import keys
from healer.core.model import ServiceId


class StormStore:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def observe_unhealthy(self, sid: ServiceId, now: float, window: float) -> int:
        """Note `sid` as unhealthy now; returns distinct services unhealthy in the window."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(keys.STORM_UNHEALTHY, {sid: now})
        pipe.zremrangebyscore(keys.STORM_UNHEALTHY, "-inf", now - window)
        pipe.zcard(keys.STORM_UNHEALTHY)
        pipe.expire(keys.STORM_UNHEALTHY, int(window) + 60)
        return int(pipe.execute()[2])

    def managed(self) -> int | None:
        raw = self.r.get(keys.STORM_MANAGED)
        return int(raw) if raw is not None else None

    def set_managed(self, count: int, ttl: float) -> None:
        self.r.set(keys.STORM_MANAGED, str(count), ex=max(1, int(ttl)))

    def take_trickle(self, interval: float) -> bool:
        """True for the one repair allowed in this trickle interval (host-wide, atomic)."""
        return bool(self.r.set(keys.STORM_TRICKLE, "1", nx=True, px=max(1, int(interval * 1000))))

    def set_braked(self, detail: str, ttl: float) -> bool:
        """Mark the brake engaged; True when it was not engaged before (first notice)."""
        fresh = not self.r.exists(keys.STORM_BRAKED)
        self.r.set(keys.STORM_BRAKED, detail, ex=max(1, int(ttl)))
        return fresh

    def release(self) -> None:
        self.r.delete(keys.STORM_BRAKED)

    def braked(self) -> str | None:
        raw = self.r.get(keys.STORM_BRAKED)
        return str(raw) if raw is not None else None
