"""The autoscaler's state in Redis: recommendation history, last scale time, the latest
decision per service (for status and metrics) and scale-event counters.

Every key lives under `healer:scale:` (counters under `healer:metrics:` beside the others) and
every one carries a TTL set in the same transaction that writes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from healer.adapters import keys
from healer.adapters.metrics import REPLICAS, SCALE_EVENTS
from healer.core.model import ServiceId
from healer.core.scaling import History

SCALE_PREFIX = f"{keys.PREFIX}scale:"


# JSON list of [timestamp, recommended replicas], oldest first.
# TTL: the stabilisation window + HISTORY_MARGIN, refreshed every cycle. A healer stopped for
# longer loses it, and scaling.decide then holds scale-downs until a full window is seen again.
def history_key(sid: ServiceId) -> str:
    return f"{SCALE_PREFIX}history:{sid}"


HISTORY_MARGIN = 3600


# Float timestamp of the last replica change (drives the cooldown). TTL: LAST_TTL.
def last_key(sid: ServiceId) -> str:
    return f"{SCALE_PREFIX}last:{sid}"


LAST_TTL = 7 * 86400

# Hash sid → JSON of the latest decision (replicas, desired, metric value, reason, queues).
# Rewritten whole every cycle, so services that stop being autoscaled drop out.
# TTL: 3 × the scaler interval (at least STATUS_MIN_TTL): a stopped scaler shows as no data.
STATUS = f"{SCALE_PREFIX}status"
STATUS_MIN_TTL = 300

# The Prometheus side reads two keys defined with the other series in adapters.metrics:
# SCALE_EVENTS, counter hash "sid|up"/"sid|down" (TTL keys.METRIC_TTL, refreshed on write), and
# REPLICAS, gauge hash "sid|current|desired|min|max" rewritten whole with the status.
REPLICA_KINDS = ("current", "desired", "min", "max")


class ScaleStore:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def load(self, sid: ServiceId) -> tuple[History, float | None]:
        raw_history, raw_last = self.r.mget([history_key(sid), last_key(sid)])
        return _history(raw_history), float(raw_last) if raw_last else None

    def save_history(self, sid: ServiceId, history: History, window: float) -> None:
        payload = json.dumps([[t, n] for t, n in history])
        self.r.set(history_key(sid), payload, ex=int(window) + HISTORY_MARGIN)

    def mark_scaled(self, sid: ServiceId, direction: str, at: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(last_key(sid), repr(at), ex=LAST_TTL)
        pipe.hincrby(SCALE_EVENTS, f"{sid}|{direction}", 1)
        pipe.expire(SCALE_EVENTS, keys.METRIC_TTL)
        pipe.execute()

    def write_status(self, statuses: Mapping[str, Mapping[str, Any]], interval: float) -> None:
        """Replace the status of every autoscaled service (and the replica gauges) at once."""
        gauges = {
            f"{sid}|{kind}": status[kind]
            for sid, status in statuses.items()
            for kind in REPLICA_KINDS
            if isinstance(status.get(kind), int)
        }
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(STATUS, REPLICAS)
        if statuses:
            pipe.hset(STATUS, mapping={s: json.dumps(v) for s, v in statuses.items()})
            pipe.expire(STATUS, max(STATUS_MIN_TTL, int(3 * interval)))
        if gauges:
            pipe.hset(REPLICAS, mapping=gauges)
            pipe.expire(REPLICAS, max(STATUS_MIN_TTL, int(3 * interval)))
        pipe.execute()

    def status(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = self.r.hgetall(STATUS)
        return {sid: json.loads(v) for sid, v in raw.items()}

    def scale_events(self) -> dict[tuple[str, str], int]:
        raw: dict[str, str] = self.r.hgetall(SCALE_EVENTS)
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
