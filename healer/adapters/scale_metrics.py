"""CPU and memory utilisation of containers, as fractions of their limit, from one-shot
Docker stats. The scaler's default metric source; a shared resource collector can replace it
(anything with the `MetricSource` signature).

The ratios are pure functions of the stats and inspect payloads (healer.core.docker_ratios).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import docker
import docker.errors

from healer.core.docker_ratios import cpu_ratio, memory_ratio
from healer.core.model import ContainerId, ContainerView
from healer.core.resources import ResourceSample, ratios
from healer.core.scale_policy import Metric


class DockerStats:
    """`metric_source` for the scaler: the mean ratio over the running containers."""

    def __init__(self, client: docker.DockerClient, parallel: int = 8) -> None:
        self.api = client.api
        self.parallel = parallel

    def __call__(self, metric: Metric, containers: Sequence[ContainerView]) -> float | None:
        running = [c.id for c in containers if c.state == "running"]
        if not running:
            return None
        # stream=False makes the engine take two samples (about a second): in parallel, one
        # service costs one second whatever its replica count.
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(running))) as pool:
            ratios = list(pool.map(lambda cid: self._ratio(metric, cid), running))
        values = [r for r in ratios if r is not None]
        return sum(values) / len(values) if values else None

    def _ratio(self, metric: Metric, cid: ContainerId) -> float | None:
        try:
            stats = self.api.stats(cid, stream=False)
            if metric == "memory":
                return memory_ratio(stats)
            host = self.api.inspect_container(cid).get("HostConfig") or {}
        except docker.errors.DockerException:
            return None  # gone or unreachable: one missing sample, not a failed cycle
        return cpu_ratio(stats, host)


class Collector(Protocol):
    """The shared resource collector (healer.adapters.stats.StatsCollector)."""

    def collect(
        self, containers: Iterable[tuple[ContainerId, int | None]]
    ) -> dict[ContainerId, ResourceSample]: ...


class CollectorSource:
    """`metric_source` backed by the shared collector (cgroup files, cheaper than the stats
    API). CPU is a rate, so each container's previous sample is kept between cycles; a new
    process has none, and its first cycle sees memory only (cpu None: no scaling on a guess).
    Give it its own collector instance: collectors cache per probed set."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.previous: dict[ContainerId, ResourceSample] = {}

    def __call__(self, metric: Metric, containers: Sequence[ContainerView]) -> float | None:
        running = [(c.id, None) for c in containers if c.state == "running"]
        samples = self.collector.collect(running)
        values = [self._value(metric, cid, s) for cid, s in samples.items()]
        self.previous.update(samples)
        if samples:  # containers long gone would otherwise pile up in a long-lived worker
            newest = max(s.at for s in samples.values())
            self.previous = {c: s for c, s in self.previous.items() if s.at > newest - 3600}
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    def _value(self, metric: Metric, cid: ContainerId, sample: ResourceSample) -> float | None:
        r = ratios(self.previous.get(cid), sample)
        return r.mem if metric == "memory" else r.cpu
