"""Counters behind the Prometheus series, kept in Redis so every worker process adds to the
same numbers and the API process serves them whole (no prefork multiprocess files).

Fields start with the host (`host|project/service|…`): one hash serves the whole cluster and
the collector labels each series with its host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import redis

from healer.adapters.store import keys
from healer.core.model import HostId

T = TypeVar("T")


def field(*parts: str) -> str:
    """Hash field of a counter. Only the service id may contain `|` (compose labels are
    free text): it comes right after the host, and readers split the host off the left and
    the rest from the right."""
    return "|".join(parts)


def unfield(key: str, parts: int) -> tuple[str, ...]:
    """Inverse of `field` for a key of `parts` parts whose first part may hold `|`."""
    return tuple(key.rsplit("|", parts - 1))


class Counters:
    def __init__(self, r: redis.Redis, host: HostId) -> None:
        self.r = r
        self.host = host

    def repair(self, sid: str, action: str, success: bool, at: float | None = None) -> None:
        pipe = self.r.pipeline(transaction=True)
        ok = "true" if success else "false"
        pipe.hincrby(keys.REPAIR_COUNTS, field(self.host, sid, action, ok), 1)
        pipe.expire(keys.REPAIR_COUNTS, keys.METRIC_TTL)
        pipe.hset(
            keys.LAST_REPAIR, field(self.host, sid), repr(at if at is not None else time.time())
        )
        pipe.expire(keys.LAST_REPAIR, keys.METRIC_TTL)
        pipe.execute()

    def decision(self, sid: str, outcome: str, host: HostId | None = None) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(keys.DECISION_COUNTS, field(host or self.host, sid, outcome), 1)
        pipe.expire(keys.DECISION_COUNTS, keys.METRIC_TTL)
        pipe.execute()

    def repairs(self) -> dict[tuple[str, ...], int]:
        """(host, sid, action, success) → count."""
        return _by_parts(self.r.hgetall(keys.REPAIR_COUNTS), 4, int)

    def decisions(self) -> dict[tuple[str, ...], int]:
        """(host, sid, outcome) → count."""
        return _by_parts(self.r.hgetall(keys.DECISION_COUNTS), 3, int)

    def last_repairs(self) -> dict[tuple[str, ...], float]:
        """(host, sid) → unix time."""
        return _by_parts(self.r.hgetall(keys.LAST_REPAIR), 2, float)

    def heartbeat(self, role: str, ttl: float) -> None:
        self.r.set(keys.heartbeat(role, self.host), repr(time.time()), ex=max(1, int(ttl)))

    def heartbeats(
        self, roles: tuple[str, ...], hosts: list[HostId]
    ) -> dict[tuple[str, str], float]:
        """(role, host) → time of the last heartbeat, for every role seen on every host."""
        pairs = [(role, h) for h in hosts for role in roles]
        values = self.r.mget([keys.heartbeat(role, h) for role, h in pairs]) if pairs else []
        return {p: float(v) for p, v in zip(pairs, values, strict=True) if v}


def _by_parts(raw: dict[str, str], n: int, cast: Callable[[str], T]) -> dict[tuple[str, ...], T]:
    # The host (no `|` in it) comes first, then the service id (which may hold `|`), then
    # the fixed parts: split the host off the left and the rest from the right. Fields from
    # before hosts (one part fewer) belong to no known host: they are dropped, which
    # Prometheus reads as a counter reset at the upgrade.
    out: dict[tuple[str, ...], T] = {}
    for k, v in raw.items():
        if k.count("|") < n - 1:
            continue
        host, _, rest = k.partition("|")
        out[(host, *unfield(rest, n - 1))] = cast(v)
    return out
