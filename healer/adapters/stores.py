"""Every Redis-backed store of the healer over one client. The engine and the entry points
talk to these small stores; the client itself never leaves the adapters."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from celery import Celery

from healer.adapters import keys
from healer.adapters.alert_marks import AlertMarks
from healer.adapters.boot_store import BootStore
from healer.adapters.control import ControlFlags
from healer.adapters.counters import Counters
from healer.adapters.guard import Guard
from healer.adapters.history import History
from healer.adapters.metrics import HealerCollector
from healer.adapters.redis_conn import connect
from healer.adapters.repair_limit import RepairLimiter, policy_from
from healer.adapters.requests import RequestStore
from healer.adapters.scale_queue_depth import CeleryQueues
from healer.adapters.scale_state import ScaleStore
from healer.adapters.state import StateStore
from healer.adapters.stats import SustainedStore
from healer.adapters.storm import StormStore
from healer.adapters.telemetry import Telemetry
from healer.core.resources import SustainedRule
from healer.settings import Settings


class Stores:
    def __init__(self, r: redis.Redis, s: Settings) -> None:
        self._r = r
        restarting_ttl = keys.restarting_since_ttl(s.restarting_grace, s.backoff_max)
        snapshot_ttl = keys.snapshot_ttl(s.watchdog_interval)
        self.state = StateStore(r, s.crashloop_window, restarting_ttl, snapshot_ttl)
        self.history = History(r, s.history_maxlen)
        self.counters = Counters(r)
        self.flags = ControlFlags(r)
        self.requests = RequestStore(r)
        self.guard = Guard(r, RepairLimiter(r, policy_from(s), s.lock_ttl))
        self.telemetry = Telemetry(r)
        self.scale = ScaleStore(r)
        self.alerts = AlertMarks(r)
        self.boot = BootStore(r)
        self.storm = StormStore(r)

    @classmethod
    def connect(cls, s: Settings) -> Stores:
        return cls(connect(s.redis_url), s)

    def sustained(self, rules: Sequence[SustainedRule], stale_after: float) -> SustainedStore:
        return SustainedStore(self._r, rules, stale_after=stale_after)

    def celery_queues(self, app: Celery, inspect_timeout: float = 1.0) -> CeleryQueues:
        """Queue depth from the broker: the healer's Redis is Celery's broker too."""
        return CeleryQueues(self._r, app, inspect_timeout=inspect_timeout)

    def collector(self) -> HealerCollector:
        return HealerCollector(self._r)

    def ping(self) -> None:
        self._r.ping()

    def close(self) -> None:
        self._r.close()
