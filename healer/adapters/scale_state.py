"""The autoscaler's state in Redis: recommendation history, last scale time, the latest
decision per service (for `healer status`, `GET /status` and the replica gauges) and
scale-event counters. Every key carries a TTL set in the same transaction that writes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from healer.adapters import keys
from healer.core.model import HostId, ServiceId
from healer.core.scale_policy import History

# Keys and TTLs: keys.scale_history, keys.scale_last, keys.scale_status, and the two series
# the Prometheus side reads, keys.SCALE_EVENTS and keys.replicas (rewritten with the status).
# Each host scales its own services: every key but the event counter is the host's.
REPLICA_KINDS = ("current", "desired", "min", "max")


class ScaleStore:
    def __init__(self, r: redis.Redis, host: HostId) -> None:
        self.r = r
        self.host = host

    def load(self, sid: ServiceId) -> tuple[History, float | None]:
        raw_history, raw_last = self.r.mget(
            [keys.scale_history(self.host, sid), keys.scale_last(self.host, sid)]
        )
        return _history(raw_history), float(raw_last) if raw_last else None

    def save_history(self, sid: ServiceId, history: History, window: float) -> None:
        payload = json.dumps([[t, n] for t, n in history])
        self.r.set(keys.scale_history(self.host, sid), payload, ex=keys.scale_history_ttl(window))

    def mark_scaled(self, sid: ServiceId, direction: str, at: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(keys.scale_last(self.host, sid), repr(at), ex=keys.SCALE_LAST_TTL)
        pipe.hincrby(keys.SCALE_EVENTS, f"{self.host}|{sid}|{direction}", 1)
        pipe.expire(keys.SCALE_EVENTS, keys.METRIC_TTL)
        pipe.execute()

    def write_status(self, statuses: Mapping[str, Mapping[str, Any]], interval: float) -> None:
        """Replace the status of every autoscaled service (and the replica gauges) at once."""
        gauges = {
            f"{sid}|{kind}": status[kind]
            for sid, status in statuses.items()
            for kind in REPLICA_KINDS
            if isinstance(status.get(kind), int)
        }
        ttl = keys.scale_status_ttl(interval)
        pipe = self.r.pipeline(transaction=True)
        status, replicas = keys.scale_status(self.host), keys.replicas(self.host)
        pipe.delete(status, replicas)
        if statuses:
            pipe.hset(status, mapping={s: json.dumps(v) for s, v in statuses.items()})
            pipe.expire(status, ttl)
        if gauges:
            pipe.hset(replicas, mapping=gauges)
            pipe.expire(replicas, ttl)
        pipe.execute()

    def status(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = self.r.hgetall(keys.scale_status(self.host))
        return {sid: json.loads(v) for sid, v in raw.items()}

    def scale_events(self) -> dict[tuple[str, str], int]:
        raw: dict[str, str] = self.r.hgetall(keys.SCALE_EVENTS)
        out: dict[tuple[str, str], int] = {}
        for k, v in raw.items():
            host, _, rest = k.partition("|")
            sid, _, direction = rest.rpartition("|")
            if host == self.host:
                out[(sid, direction)] = int(v)
        return out


def _history(raw: str | None) -> History:
    """Stored history, or empty when missing or unreadable (a fresh window then starts)."""
    if not raw:
        return ()
    try:
        entries = json.loads(raw)
        return tuple((float(t), int(n)) for t, n in entries)
    except (ValueError, TypeError):
        return ()
