"""The alert intake's Redis marks: delivery dedupe, the per (service, action)
suppression window and the cluster-wide rate. Keys: keys.alert_seen, alert_suppress, alert_rate."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import NewType

import redis

from healer.adapters.store import keys

PENDING = "pending"

Claim = NewType("Claim", str)
"""An opaque handle on a mark this process set; only `AlertMarks` knows what is inside."""


class AlertMarks:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def claim_delivery(self, dedupe_key: str, resolved: bool) -> tuple[Claim | None, str]:
        """A first delivery gets a claim, held for ALERT_PENDING_TTL until settled; a
        re-delivery gets None and the first one's "<decision>:<reason>" (or "pending")."""
        key = keys.alert_seen(dedupe_key, resolved)
        if self.r.set(key, PENDING, nx=True, ex=keys.ALERT_PENDING_TTL):
            return Claim(key), ""
        return None, str(self.r.get(key) or PENDING)

    def settle_delivery(self, claim: Claim, outcome: str) -> None:
        """The first delivery's outcome, answered to every re-delivery for ALERT_SEEN_TTL."""
        self.r.set(claim, outcome, ex=keys.ALERT_SEEN_TTL)

    def claim_window(self, sid: str, action: str, seconds: int) -> Claim | None:
        """A claim if no repair for this alert on this service ran within `seconds`."""
        key = keys.alert_suppress(sid, action)
        return Claim(key) if self.r.set(key, "1", nx=True, ex=seconds) else None

    def take_rate(self, limit: int, window: int) -> bool:
        """One more alert action in the current `window`-second slot, if under `limit`."""
        key = keys.alert_rate(int(time.time()) // window)
        pipe = self.r.pipeline()
        pipe.incr(key)
        pipe.expire(key, window * 2)
        count, _ = pipe.execute()
        return int(count) <= limit

    def release(self, claims: Sequence[Claim]) -> None:
        """Undo the claims of a delivery that was not acknowledged, so Alertmanager's retry is
        handled rather than collapsed. Best effort: Redis may be why it failed."""
        with contextlib.suppress(redis.RedisError):
            if claims:
                self.r.delete(*claims)
