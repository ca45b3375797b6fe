"""Failovers seen: the master this cluster writes to, compared with the one last seen.

Every host agent checks at each heartbeat. The last master's address is kept in Redis, so of
all processes that see a new master, the one whose SET … GET still returns the old address
records the failover (once in the history, once in healer_redis_failovers_total). A process
also remembers the master it saw: the key itself may be a write the failover lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, Metric

from healer.adapters.store import keys
from healer.adapters.store.connection import master_address
from healer.adapters.store.history import History, Record
from healer.core.model import Outcome

log = logging.getLogger("healer.redis")

REASON = "redis_failover"


class FailoverWatch:
    def __init__(self, r: redis.Redis, history: History) -> None:
        self._r = r
        self._history = history
        self._seen: str | None = None

    def check(self) -> str | None:
        """Record a change of master since the last check; returns the previous master when
        this call recorded one, else None."""
        master = master_address(self._r)
        stored = self._r.set(keys.REDIS_MASTER, master, get=True)
        previous = stored if stored is not None else self._seen
        self._seen = master
        if previous is None or previous == master or stored == master:
            return None
        self._r.incr(keys.REDIS_FAILOVERS)
        self._history.record(
            Record(
                sid="redis",
                outcome=Outcome.INFO,
                reason=REASON,
                detail=f"Redis master moved from {previous} to {master}",
                source="sentinel",
            )
        )
        log.warning("Redis master moved from %s to %s", previous, master)
        return str(previous)


def redis_series(r: redis.Redis) -> Iterator[Metric]:
    """The cluster's Redis counters: failovers seen, claims not confirmed on a replica."""
    failovers, unreplicated = r.mget(keys.REDIS_FAILOVERS, keys.UNREPLICATED_CLAIMS)
    yield CounterMetricFamily(
        "healer_redis_failovers",
        "Redis master changes the healer saw (Sentinel failovers)",
        value=float(failovers or 0),
    )
    yield CounterMetricFamily(
        "healer_redis_unreplicated_claims",
        "Repair claims no replica confirmed within HEALER_REDIS_WAIT_TIMEOUT (acted anyway)",
        value=float(unreplicated or 0),
    )
