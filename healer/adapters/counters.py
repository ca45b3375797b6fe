"""Counters behind the Prometheus series, kept in Redis so every worker process adds to the
same numbers and the API process serves them whole (no prefork multiprocess files)."""

from __future__ import annotations

import time

import redis

from healer.adapters import keys


def field(*parts: str) -> str:
    """Hash field of a counter. Only the service id may contain `|` (compose labels are
    free text): it comes first, and readers split from the right."""
    return "|".join(parts)


def unfield(key: str, parts: int) -> tuple[str, ...]:
    """Inverse of `field` for a key of `parts` parts whose first part may hold `|`."""
    return tuple(key.rsplit("|", parts - 1))


class Counters:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def repair(self, sid: str, action: str, success: bool, at: float | None = None) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(keys.REPAIR_COUNTS, field(sid, action, "true" if success else "false"), 1)
        pipe.expire(keys.REPAIR_COUNTS, keys.METRIC_TTL)
        pipe.hset(keys.LAST_REPAIR, sid, repr(at if at is not None else time.time()))
        pipe.expire(keys.LAST_REPAIR, keys.METRIC_TTL)
        pipe.execute()

    def decision(self, sid: str, outcome: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(keys.DECISION_COUNTS, field(sid, outcome), 1)
        pipe.expire(keys.DECISION_COUNTS, keys.METRIC_TTL)
        pipe.execute()

    def repairs(self) -> dict[tuple[str, ...], int]:
        raw: dict[str, str] = self.r.hgetall(keys.REPAIR_COUNTS)
        return {unfield(k, 3): int(v) for k, v in raw.items() if k.count("|") >= 2}

    def decisions(self) -> dict[tuple[str, ...], int]:
        raw: dict[str, str] = self.r.hgetall(keys.DECISION_COUNTS)
        return {unfield(k, 2): int(v) for k, v in raw.items() if "|" in k}

    def last_repairs(self) -> dict[str, float]:
        raw: dict[str, str] = self.r.hgetall(keys.LAST_REPAIR)
        return {k: float(v) for k, v in raw.items()}

    def heartbeat(self, role: str, ttl: float) -> None:
        self.r.set(keys.heartbeat(role), repr(time.time()), ex=max(1, int(ttl)))

    def heartbeats(self, roles: tuple[str, ...]) -> dict[str, float]:
        values = self.r.mget([keys.heartbeat(r) for r in roles])
        return {r: float(v) for r, v in zip(roles, values, strict=True) if v}
