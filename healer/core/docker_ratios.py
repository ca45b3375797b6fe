"""CPU and memory utilisation as fractions of a container's limit, from Docker's stats and
inspect payloads. Pure: tested on recorded payloads; the I/O is in adapters/scale_metrics.py."""

from __future__ import annotations

from typing import Any


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
