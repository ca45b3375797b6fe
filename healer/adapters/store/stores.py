"""Every Redis-backed store of the healer over one client. The engine and the entry points
talk to these small stores; the client itself never leaves the adapters.

The stores are bound to one Docker host (Settings.host, this process's): guard, state,
flags, counters, telemetry, the repair limit, the storm brake and boot recovery read and
write that host's keys. `on(host)` gives the same
stores for another host, for the API and CLI acting on a service of any host."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from celery import Celery

from healer.adapters.docker.stats import SustainedStore
from healer.adapters.metrics.counters import Counters
from healer.adapters.metrics.series import HealerCollector
from healer.adapters.metrics.telemetry import Telemetry
from healer.adapters.scaling.queue_depth import CeleryQueues
from healer.adapters.scaling.state import ScaleStore
from healer.adapters.store import keys
from healer.adapters.store.alert_marks import AlertMarks
from healer.adapters.store.boot import BootStore
from healer.adapters.store.connection import connect, master_address, target
from healer.adapters.store.control import ControlFlags
from healer.adapters.store.guard import Guard
from healer.adapters.store.history import History
from healer.adapters.store.hosts import HostRegistry
from healer.adapters.store.repair_limit import RepairLimiter, policy_from
from healer.adapters.store.requests import RequestStore
from healer.adapters.store.state import StateStore, read_snapshots
from healer.adapters.store.storm import StormStore
from healer.core.model import HostId
from healer.core.resources import SustainedRule
from healer.settings import Settings


class Stores:
    def __init__(self, r: redis.Redis, s: Settings, host: HostId | None = None) -> None:
        self._r = r
        self._settings = s
        self.host = host or s.host_id
        restarting_ttl = keys.restarting_since_ttl(s.restarting_grace, s.backoff_max)
        snapshot_ttl = keys.snapshot_ttl(s.watchdog_interval)
        self.state = StateStore(r, s.crashloop_window, restarting_ttl, snapshot_ttl, self.host)
        self.history = History(r, s.history_maxlen, self.host)
        self.counters = Counters(r, self.host)
        self.flags = ControlFlags(r, self.host)
        self.requests = RequestStore(r, s.wait_replicas, s.redis_wait_timeout)
        limiter = RepairLimiter(r, policy_from(s), s.lock_ttl, self.host)
        self.guard = Guard(r, limiter, s.wait_replicas, s.redis_wait_timeout)
        self.telemetry = Telemetry(r, self.host)
        self.scale = ScaleStore(r, self.host)
        self.alerts = AlertMarks(r)
        self.hosts = HostRegistry(r, s.host_down_after)
        self.boot = BootStore(r, self.host)
        self.storm = StormStore(r, self.host)

    def on(self, host: HostId) -> Stores:
        """The same stores, bound to another host (same client)."""
        return self if host == self.host else Stores(self._r, self._settings, host)

    @classmethod
    def connect(cls, s: Settings) -> Stores:
        return cls(connect(target(s)), s)

    def sustained(self, rules: Sequence[SustainedRule], stale_after: float) -> SustainedStore:
        return SustainedStore(self._r, rules, stale_after=stale_after)

    def celery_queues(self, app: Celery, inspect_timeout: float = 1.0) -> CeleryQueues:
        """Queue depth from the broker: the healer's Redis is Celery's broker too."""
        return CeleryQueues(self._r, app, inspect_timeout=inspect_timeout)

    def snapshots(self, host: HostId) -> dict[str, dict[str, object]]:
        """Another host's last observed services (its probes write them)."""
        return read_snapshots(self._r, host)

    def collector(self) -> HealerCollector:
        return HealerCollector(self._r, self.hosts, self.host)

    def ping(self) -> None:
        self._r.ping()

    def master(self) -> str:
        """`host:port` of the Redis (the Sentinel master) this process writes to."""
        return master_address(self._r)

    def close(self) -> None:
        self._r.close()
