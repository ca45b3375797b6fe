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
from healer.core.model import ServiceId
from healer.core.scale_policy import History

# Keys and TTLs: keys.scale_history, keys.scale_last, keys.SCALE_STATUS, and the two series
# the Prometheus side reads, keys.SCALE_EVENTS and keys.REPLICAS (rewritten with the status).
REPLICA_KINDS = ("current", "desired", "min", "max")


class ScaleStore:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def load(self, sid: ServiceId) -> tuple[History, float | None]:
        raw_history, raw_last = self.r.mget([keys.scale_history(sid), keys.scale_last(sid)])
        return _history(raw_history), float(raw_last) if raw_last else None

    def save_history(self, sid: ServiceId, history: History, window: float) -> None:
        payload = json.dumps([[t, n] for t, n in history])
        self.r.set(keys.scale_history(sid), payload, ex=keys.scale_history_ttl(window))

    def mark_scaled(self, sid: ServiceId, direction: str, at: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(keys.scale_last(sid), repr(at), ex=keys.SCALE_LAST_TTL)
        pipe.hincrby(keys.SCALE_EVENTS, f"{sid}|{direction}", 1)
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
        pipe.delete(keys.SCALE_STATUS, keys.REPLICAS)
        if statuses:
            pipe.hset(keys.SCALE_STATUS, mapping={s: json.dumps(v) for s, v in statuses.items()})
            pipe.expire(keys.SCALE_STATUS, ttl)
        if gauges:
            pipe.hset(keys.REPLICAS, mapping=gauges)
            pipe.expire(keys.REPLICAS, ttl)
        pipe.execute()

    def status(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = self.r.hgetall(keys.SCALE_STATUS)
        return {sid: json.loads(v) for sid, v in raw.items()}

    def scale_events(self) -> dict[tuple[str, str], int]:
        raw: dict[str, str] = self.r.hgetall(keys.SCALE_EVENTS)
        out: dict[tuple[str, str], int] = {}
        for k, v in raw.items():
            sid, _, direction = k.rpartition("|")
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
