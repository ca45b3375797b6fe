"""Operator intent in Redis: `healer pause` / `healer resume`. Every reader (repair task,
autoscaler, alert intake, status) asks here; no other module knows how a pause is stored.

A service pause belongs to one host (`web` paused on one host is not paused on another);
pausing everything is cluster-wide."""

from __future__ import annotations

import redis

from healer.adapters.store import keys
from healer.core.model import HostId, ServiceId


class ControlFlags:
    def __init__(self, r: redis.Redis, host: HostId) -> None:
        self.r = r
        self.host = host

    def pause(self, sid: ServiceId | None = None) -> None:
        """Pause one service, or every service with `sid=None`. No TTL (see keys.paused)."""
        self.r.set(keys.PAUSED_ALL if sid is None else keys.paused(self.host, sid), "1")

    def resume(self, sid: ServiceId | None = None) -> None:
        self.r.delete(keys.PAUSED_ALL if sid is None else keys.paused(self.host, sid))

    def paused_all(self) -> bool:
        return bool(self.r.exists(keys.PAUSED_ALL))

    def is_paused(self, sid: ServiceId) -> bool:
        """Paused by name or by `healer pause` of everything; one round trip."""
        return bool(self.r.exists(keys.PAUSED_ALL, keys.paused(self.host, sid)))
