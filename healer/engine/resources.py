"""Sustained CPU, memory and network use: sample running containers, keep the windows in
Redis (shared by every worker, surviving restarts), and report breaches to the probe."""

from __future__ import annotations

from collections.abc import Mapping

import docker

from healer.adapters.docker.stats import StatsCollector
from healer.adapters.store.stores import Stores
from healer.core.labels import parse_service_labels
from healer.core.model import Condition, ContainerId, ServiceId, ServiceView
from healer.core.resources import Breach, ResourceSample, SustainedRule, service_rules
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
        self.rules = rules(s)
        self.store = stores.sustained(self.rules, stale_after=max(5 * s.watchdog_interval, 60))
        self.telemetry = stores.telemetry
        self.interval = s.watchdog_interval

    def cycle(self, views: Mapping[ServiceId, ServiceView]) -> list[Breach]:
        if not self.enabled:
            return []
        running = [
            (c.id, None) for v in views.values() for c in v.containers if c.state == "running"
        ]
        samples = self.collector.collect(running)
        breaches = self.store.cycle(samples, self._own_rules(views))
        self._export(views, samples)
        return breaches

    def _own_rules(
        self, views: Mapping[ServiceId, ServiceView]
    ) -> dict[ContainerId, tuple[SustainedRule, ...]]:
        """Per container, its service's rules (healer.<cpu|memory|network>.* labels)."""
        out: dict[ContainerId, tuple[SustainedRule, ...]] = {}
        for v in views.values():
            own = service_rules(self.rules, parse_service_labels(v.labels))
            out.update((c.id, own) for c in v.containers)
        return out

    def _export(
        self,
        views: Mapping[ServiceId, ServiceView],
        samples: Mapping[ContainerId, ResourceSample],
    ) -> None:
        names = {c.id: (v.sid, c.name) for v in views.values() for c in v.containers}
        fields: dict[str, str] = {}
        for cid, r in self.store.last_ratios.items():
            if cid not in names:
                continue
            sid, name = names[cid]
            for kind, value in (("cpu", r.cpu), ("memory", r.mem), ("network", r.net_errors_per_s)):
                if value is not None:
                    fields[f"{sid}|{name}|{kind}"] = repr(value)
        # The container's own cumulative error count: a counter Prometheus can rate().
        for cid, sample in samples.items():
            if cid in names and sample.net_errors is not None:
                sid, name = names[cid]
                fields[f"{sid}|{name}|network_total"] = str(sample.net_errors)
        self.telemetry.resource_ratios(fields, self.interval)
