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
from healer.core.model import HostId, ServiceId
from healer.core.scaling import History

SCALE_PREFIX = f"{keys.PREFIX}scale:"


# JSON list of [timestamp, recommended replicas], oldest first.
# TTL: the stabilisation window + HISTORY_MARGIN, refreshed every cycle. A healer stopped for
# longer loses it, and scaling.decide then holds scale-downs until a full window is seen again.
def history_key(host: HostId, sid: ServiceId) -> str:
    return f"{SCALE_PREFIX}history:{host}/{sid}"


HISTORY_MARGIN = 3600


# Float timestamp of the last replica change (drives the cooldown). TTL: LAST_TTL.
def last_key(host: HostId, sid: ServiceId) -> str:
    return f"{SCALE_PREFIX}last:{host}/{sid}"


LAST_TTL = 7 * 86400


# Hash sid → JSON of the latest decision (replicas, desired, metric value, reason, queues),
# one per host (each host scales its own services). Rewritten whole every cycle, so services
# that stop being autoscaled drop out.
# TTL: 3 × the scaler interval (at least STATUS_MIN_TTL): a stopped scaler shows as no data.
def status_key(host: HostId) -> str:
    return f"{SCALE_PREFIX}status:{host}"


def replicas_key(host: HostId) -> str:
    return f"{REPLICAS}:{host}"


STATUS_MIN_TTL = 300

# The Prometheus side reads two keys defined with the other series in adapters.metrics:
# SCALE_EVENTS, counter hash "host|sid|up"/"host|sid|down" (TTL keys.METRIC_TTL, refreshed on
# write), and REPLICAS:<host>, gauge hash "sid|current|desired|min|max" rewritten whole with
# the host's status.
REPLICA_KINDS = ("current", "desired", "min", "max")


class ScaleStore:
    def __init__(self, r: redis.Redis, host: HostId) -> None:
        self.r = r
        self.host = host

    def load(self, sid: ServiceId) -> tuple[History, float | None]:
        raw_history, raw_last = self.r.mget([history_key(self.host, sid), last_key(self.host, sid)])
        return _history(raw_history), float(raw_last) if raw_last else None

    def save_history(self, sid: ServiceId, history: History, window: float) -> None:
        payload = json.dumps([[t, n] for t, n in history])
        self.r.set(history_key(self.host, sid), payload, ex=int(window) + HISTORY_MARGIN)

    def mark_scaled(self, sid: ServiceId, direction: str, at: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(last_key(self.host, sid), repr(at), ex=LAST_TTL)
        pipe.hincrby(SCALE_EVENTS, f"{self.host}|{sid}|{direction}", 1)
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
        status, replicas = status_key(self.host), replicas_key(self.host)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(status, replicas)
        if statuses:
            pipe.hset(status, mapping={s: json.dumps(v) for s, v in statuses.items()})
            pipe.expire(status, max(STATUS_MIN_TTL, int(3 * interval)))
        if gauges:
            pipe.hset(replicas, mapping=gauges)
            pipe.expire(replicas, max(STATUS_MIN_TTL, int(3 * interval)))
        pipe.execute()

    def status(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = self.r.hgetall(status_key(self.host))
        return {sid: json.loads(v) for sid, v in raw.items()}

    def scale_events(self) -> dict[tuple[str, str], int]:
        raw: dict[str, str] = self.r.hgetall(SCALE_EVENTS)
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
