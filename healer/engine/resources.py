"""Sustained CPU, memory and network use: sample running containers, keep the windows in
Redis (shared by every worker, surviving restarts), and report breaches to the probe."""

from __future__ import annotations

from collections.abc import Mapping

import docker

from healer.adapters.docker.stats import StatsCollector
from healer.adapters.store.stores import Stores
from healer.core.model import Condition, ServiceId, ServiceView
from healer.core.resources import Breach, SustainedRule
from healer.settings import Settings


def rules(s: Settings) -> tuple[SustainedRule, ...]:
    return (
        SustainedRule(Condition.MEMORY, s.memory_threshold, s.memory_window),
        SustainedRule(Condition.CPU, s.cpu_threshold, s.cpu_window),
        SustainedRule(Condition.NETWORK, s.network_error_rate, s.network_window),
    )


class ResourceMonitor:
    def __init__(self, s: Settings, client: docker.DockerClient, stores: Stores) -> None:
        self.enabled = s.resource_monitoring
        self.collector = StatsCollector(client, s.cgroup_root, s.proc_root)
        # A gap of several reconcile intervals restarts the windows rather than bridging them.
        self.store = stores.sustained(rules(s), stale_after=max(5 * s.watchdog_interval, 60))
        self.telemetry = stores.telemetry
        self.interval = s.watchdog_interval

    def cycle(self, views: Mapping[ServiceId, ServiceView]) -> list[Breach]:
        if not self.enabled:
            return []
        running = [
            (c.id, None) for v in views.values() for c in v.containers if c.state == "running"
        ]
        samples = self.collector.collect(running)
        breaches = self.store.cycle(samples)
        self._export(views)
        return breaches

    def _export(self, views: Mapping[ServiceId, ServiceView]) -> None:
        names = {c.id: (v.sid, c.name) for v in views.values() for c in v.containers}
        fields: dict[str, str] = {}
        for cid, r in self.store.last_ratios.items():
            if cid not in names:
                continue
            sid, name = names[cid]
            for kind, value in (("cpu", r.cpu), ("memory", r.mem), ("network", r.net_errors_per_s)):
                if value is not None:
                    fields[f"{sid}|{name}|{kind}"] = repr(value)
        self.telemetry.resource_ratios(fields, self.interval)
