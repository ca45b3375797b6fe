"""CPU and memory utilisation of containers, as fractions of their limit, from one-shot
Docker stats. The scaler's default metric source; a shared resource collector can replace it
(anything with the `MetricSource` signature).

The ratios are pure functions of the stats and inspect payloads, tested on recorded ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import docker
import docker.errors

from healer.core.model import ContainerId, ContainerView
from healer.core.resources import ResourceSample, ratios
from healer.core.scaling import Metric


def memory_ratio(stats: dict[str, Any]) -> float | None:
    """Working set / limit, as `docker stats` computes it: page cache that can be dropped
    (inactive_file) is not pressure. The limit is the host's memory when none is set."""
    mem = stats.get("memory_stats") or {}
    usage, limit = mem.get("usage"), mem.get("limit")
    if not usage or not limit:
        return None
    detail = mem.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0)) or 0
    return float(max(0, usage - cache)) / float(limit)


def _cpuset_size(spec: str) -> int:
    """`0-3,6` → 5."""
    total = 0
    for part in filter(None, spec.split(",")):
        lo, _, hi = part.partition("-")
        total += int(hi or lo) - int(lo) + 1
    return total


def cpu_limit(host_config: dict[str, Any], online_cpus: int) -> float:
    """The container's CPU budget in cores: --cpus, else quota/period, else cpuset, else host."""
    nano = host_config.get("NanoCpus") or 0
    if nano:
        return float(nano) / 1e9
    quota, period = host_config.get("CpuQuota") or 0, host_config.get("CpuPeriod") or 0
    if quota > 0 and period > 0:
        return float(quota) / float(period)
    cpuset = str(host_config.get("CpusetCpus") or "")
    try:
        size = _cpuset_size(cpuset) if cpuset else 0
    except ValueError:
        size = 0
    return float(size or online_cpus)


def cpu_ratio(stats: dict[str, Any], host_config: dict[str, Any]) -> float | None:
    """Cores used over the sampling interval / cores allowed; None without two samples."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    samples = (
        (cpu.get("cpu_usage") or {}).get("total_usage"),
        (pre.get("cpu_usage") or {}).get("total_usage"),
        cpu.get("system_cpu_usage"),
        pre.get("system_cpu_usage"),
    )
    numbers = [float(v) for v in samples if isinstance(v, int | float)]
    if len(numbers) != len(samples):
        return None
    used, used_before, system, system_before = numbers
    cpu_delta, system_delta = used - used_before, system - system_before
    if system_delta <= 0 or cpu_delta < 0:
        return None
    per_cpu = (cpu.get("cpu_usage") or {}).get("percpu_usage") or []
    online = int(cpu.get("online_cpus") or len(per_cpu) or 1)
    cores = cpu_delta / system_delta * online
    return float(cores / cpu_limit(host_config, online))


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
