"""State of the repair-storm brake in Redis (the decision is healer.core.repair.storm)."""

from __future__ import annotations

import json
from collections.abc import Callable

import redis

from healer.adapters.store import keys
from healer.core.model import HostId, ServiceId
from healer.core.overload.evidence import Pressure


class StormStore:
    def __init__(self, r: redis.Redis, host: HostId) -> None:
        self.r = r
        self.host = host
        self._unhealthy = keys.storm_unhealthy(host)
        self._managed = keys.storm_managed(host)
        self._trickle = keys.storm_trickle(host)
        self._braked = keys.storm_braked(host)
        self._evidence = keys.storm_evidence(host)
        self._onset = keys.storm_onset(host)

    def observe_unhealthy(self, sid: ServiceId, now: float, window: float) -> int:
        """Note `sid` as unhealthy now; returns distinct services unhealthy in the window."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(self._unhealthy, {sid: now})
        pipe.zremrangebyscore(self._unhealthy, "-inf", now - window)
        pipe.zcard(self._unhealthy)
        pipe.expire(self._unhealthy, int(window) + 60)
        return int(pipe.execute()[2])

    def onset_pressure(self, first: bool, read: Callable[[], Pressure], window: float) -> Pressure:
        """The host's pressure when this storm began. The storm's first unhealthy service
        (`first`) reads it and keeps it for the window; later ones get that reading. Fifty
        restarts at once raise a small host's CPU pressure themselves: read then, it would
        brake the very repairs that raised it."""
        ttl = int(window) + 60
        if not first:
            raw = self.r.get(self._onset)
            if raw is not None:
                return _pressure(raw)
        now = read()
        self.r.set(self._onset, json.dumps([now.cpu_some, now.io_full]), ex=ttl, nx=not first)
        return now

    def managed(self) -> int | None:
        raw = self.r.get(self._managed)
        return int(raw) if raw is not None else None

    def set_managed(self, count: int, ttl: float) -> None:
        self.r.set(self._managed, str(count), ex=max(1, int(ttl)))

    def take_trickle(self, interval: float) -> bool:
        """True for the one repair allowed in this trickle interval (host-wide, atomic)."""
        return bool(self.r.set(self._trickle, "1", nx=True, px=max(1, int(interval * 1000))))

    def set_braked(self, detail: str, ttl: float, evidence: list[str] | None = None) -> bool:
        """Mark the brake engaged, with the kinds of evidence that engaged it; True when it
        was not engaged before (first notice)."""
        fresh = not self.r.exists(self._braked)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self._braked, detail, ex=max(1, int(ttl)))
        pipe.set(self._evidence, ",".join(evidence or []), ex=max(1, int(ttl)))
        pipe.execute()
        return fresh

    def release(self) -> None:
        self.r.delete(self._braked, self._evidence)

    def evidence(self) -> list[str]:
        raw = self.r.get(self._evidence)
        return [e for e in str(raw or "").split(",") if e]

    def braked(self) -> str | None:
        raw = self.r.get(self._braked)
        return str(raw) if raw is not None else None


def _pressure(raw: str | bytes) -> Pressure:
    try:
        cpu, io = json.loads(raw)
        return Pressure(
            cpu_some=None if cpu is None else float(cpu), io_full=None if io is None else float(io)
        )
    except (ValueError, TypeError):
        return Pressure()  # unreadable: no pressure evidence, the live kinds still count
