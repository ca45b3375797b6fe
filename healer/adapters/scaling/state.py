"""The autoscaler's state in Redis: recommendation history, last scale time, the latest
decision per service (for `healer status`, `GET /status` and the replica gauges) and
scale-event counters. Every key carries a TTL set in the same transaction that writes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from healer.adapters.store import keys
from healer.core.model import HostId, ServiceId
from healer.core.scaling.policy import History, ScaleUps
from healer.core.scaling.trigger import Watch

# Keys and TTLs: keys.scale_history, keys.scale_last, keys.scale_status, keys.scale_ups,
# keys.scale_watch, keys.scale_trigger, and the two series the Prometheus side reads,
# keys.SCALE_EVENTS and keys.replicas (rewritten with the status).
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

    def scale_ups(self, sid: ServiceId, now: float) -> ScaleUps:
        """The autoscaler's scale-ups of the last keys.SCALE_UPS_TTL seconds."""
        return tuple(
            e
            for e in _history(self.r.get(keys.scale_ups(self.host, sid)))
            if e[0] > now - keys.SCALE_UPS_TTL
        )

    def park(self, sid: ServiceId) -> None:
        self.r.set(keys.scale_parked(self.host, sid), "1")

    def unpark(self, sid: ServiceId) -> None:
        self.r.delete(keys.scale_parked(self.host, sid))

    def parked(self, sid: ServiceId) -> bool:
        return bool(self.r.exists(keys.scale_parked(self.host, sid)))

    def record_scale_up(self, sid: ServiceId, added: int, at: float) -> None:
        """`added` < 0 records a scale-down (scale-down policies count those)."""
        kept = [[t, n] for t, n in self.scale_ups(sid, at)] + [[at, added]]
        self.r.set(keys.scale_ups(self.host, sid), json.dumps(kept), ex=keys.SCALE_UPS_TTL)

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

    def update_status(self, sid: ServiceId, status: Mapping[str, Any], interval: float) -> None:
        """Replace one service's status and gauges (a cycle of that service alone)."""
        ttl = keys.scale_status_ttl(interval)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.scale_status(self.host), sid, json.dumps(status))
        pipe.expire(keys.scale_status(self.host), ttl)
        gauges = {f"{sid}|{k}": status[k] for k in REPLICA_KINDS if isinstance(status.get(k), int)}
        if gauges:
            pipe.hset(keys.replicas(self.host), mapping=gauges)
            pipe.expire(keys.replicas(self.host), ttl)
        pipe.execute()

    def write_watches(
        self, watches: Mapping[ServiceId, Watch], interval: float, *, whole: bool = True
    ) -> None:
        """Store what the trigger checks; `whole` replaces every entry (a full cycle)."""
        pipe = self.r.pipeline(transaction=True)
        if whole:
            pipe.delete(keys.scale_watch(self.host))
        if watches:
            mapping = {s: json.dumps(w.to_json()) for s, w in watches.items()}
            pipe.hset(keys.scale_watch(self.host), mapping=mapping)
            pipe.expire(keys.scale_watch(self.host), keys.scale_status_ttl(interval))
        pipe.execute()

    def watches(self) -> dict[ServiceId, Watch]:
        raw: dict[str, str] = self.r.hgetall(keys.scale_watch(self.host))
        out: dict[ServiceId, Watch] = {}
        for sid, text in raw.items():
            try:
                watch = Watch.from_json(sid, json.loads(text))
            except ValueError:
                watch = None
            if watch is not None:
                out[watch.sid] = watch
        return out

    def claim_trigger(self, sid: ServiceId) -> bool:
        return bool(
            self.r.set(keys.scale_trigger(self.host, sid), "1", nx=True, ex=keys.SCALE_TRIGGER_HOLD)
        )

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
