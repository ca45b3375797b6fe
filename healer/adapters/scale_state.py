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
from healer.core.scale_trigger import Watch
from healer.core.scaling import History, ScaleUps

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


# JSON list of [timestamp, replicas added] of the autoscaler's own scale-ups: the scale-up
# rate limit counts those of the last period. TTL: UPS_TTL, rewritten with each scale-up; far
# longer than any period, and an expired list only means the next scale-up may double again.
def ups_key(sid: ServiceId) -> str:
    return f"{SCALE_PREFIX}ups:{sid}"


UPS_TTL = 3600

# Hash sid → JSON of the latest decision (replicas, desired, metric value, reason, queues).
# Rewritten whole every cycle, so services that stop being autoscaled drop out.
# TTL: 3 × the scaler interval (at least STATUS_MIN_TTL): a stopped scaler shows as no data.
STATUS = f"{SCALE_PREFIX}status"
STATUS_MIN_TTL = 300

# Hash sid → JSON of a queue-scaled service's Watch (healer.core.scale_trigger): what the
# beat's cheap between-cycles check compares the backlog with. Rewritten whole by every full
# cycle, so services no longer queue-scaled drop out. TTL: as STATUS.
WATCH = f"{SCALE_PREFIX}watch"


# Marker of a scale cycle asked for by the check (SET NX): one per service per TRIGGER_HOLD
# seconds, however many ticks see the backlog before the cycle has acted. TTL: TRIGGER_HOLD.
def trigger_key(sid: ServiceId) -> str:
    return f"{SCALE_PREFIX}trigger:{sid}"


TRIGGER_HOLD = 5

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

    def scale_ups(self, sid: ServiceId, now: float) -> ScaleUps:
        """The autoscaler's scale-ups of the last UPS_TTL seconds."""
        return tuple(e for e in _history(self.r.get(ups_key(sid))) if e[0] > now - UPS_TTL)

    def record_scale_up(self, sid: ServiceId, added: int, at: float) -> None:
        kept = [[t, n] for t, n in self.scale_ups(sid, at)] + [[at, added]]
        self.r.set(ups_key(sid), json.dumps(kept), ex=UPS_TTL)

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

    def update_status(self, sid: ServiceId, status: Mapping[str, Any], interval: float) -> None:
        """Replace one service's status and gauges (a cycle of that service alone)."""
        ttl = max(STATUS_MIN_TTL, int(3 * interval))
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(STATUS, sid, json.dumps(status))
        pipe.expire(STATUS, ttl)
        gauges = {f"{sid}|{k}": status[k] for k in REPLICA_KINDS if isinstance(status.get(k), int)}
        if gauges:
            pipe.hset(REPLICAS, mapping=gauges)
            pipe.expire(REPLICAS, ttl)
        pipe.execute()

    def write_watches(
        self, watches: Mapping[ServiceId, Watch], interval: float, *, whole: bool = True
    ) -> None:
        """Store what the trigger checks; `whole` replaces every entry (a full cycle)."""
        pipe = self.r.pipeline(transaction=True)
        if whole:
            pipe.delete(WATCH)
        if watches:
            pipe.hset(WATCH, mapping={s: json.dumps(w.to_json()) for s, w in watches.items()})
            pipe.expire(WATCH, max(STATUS_MIN_TTL, int(3 * interval)))
        pipe.execute()

    def watches(self) -> dict[ServiceId, Watch]:
        raw: dict[str, str] = self.r.hgetall(WATCH)
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
        return bool(self.r.set(trigger_key(sid), "1", nx=True, ex=TRIGGER_HOLD))

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
