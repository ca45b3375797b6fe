"""Resource conditions (memory, CPU, network errors; docs/architecture.md, "What it does"),
decided purely.

A `ResourceSample` is what one cheap read of a container's cgroup (or the Docker stats API)
gave. Rates need the previous sample; "for 5 minutes" needs the time the condition was first
seen. Both live in Redis (adapters/docker/stats.py); everything here is a function of them.

Parsers take the text of cgroup v1/v2 and /proc files, or the stats API payload, so the
adapter does only I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from healer.core.labels import ServiceLabels
from healer.core.model import Action, Condition, ContainerId, Finding, ServiceId, ServiceView

# cgroup v1 writes "unlimited" as the largest page-aligned int64; anything this big is no limit.
UNLIMITED = 1 << 62

# Two samples closer than this give a noisy rate (an event-path probe right after a reconcile
# probe), so the older sample is kept as the base instead.
MIN_RATE_INTERVAL = 1.0


@dataclass(frozen=True)
class ResourceSample:
    container_id: ContainerId
    at: float  # wall clock: samples are compared across workers and restarts
    cpu_usage_ns: int  # cumulative since the container started
    cpu_limit_cores: float  # quota, else cpuset size, else host CPUs
    mem_usage_bytes: int  # working set: usage minus inactive file cache, as `docker stats`
    mem_limit_bytes: int  # host memory when the container has no limit
    net_errors: int | None  # cumulative rx+tx errs+drops; None when unreadable


@dataclass(frozen=True)
class SustainedRule:
    condition: Condition
    threshold: float
    window: float  # seconds the value must stay above the threshold


MEMORY_RULE = SustainedRule(Condition.MEMORY, 0.9, 300.0)
CPU_RULE = SustainedRule(Condition.CPU, 0.9, 600.0)
# errors+drops per second. Idle links see a few stray drops (unknown protocols, multicast);
# ten a second for two minutes is a broken link or an overrun queue.
NETWORK_RULE = SustainedRule(Condition.NETWORK, 10.0, 120.0)
DEFAULT_RULES = (MEMORY_RULE, CPU_RULE, NETWORK_RULE)


def service_rules(
    rules: Sequence[SustainedRule], labels: ServiceLabels
) -> tuple[SustainedRule, ...]:
    """The host's rules as one service's labels tune them: a disabled condition has no rule
    (its window is not even tracked), a threshold or window label replaces the setting."""
    out: list[SustainedRule] = []
    for rule in rules:
        if labels.enabled(rule.condition):
            threshold, window = labels.sustained(rule.condition, rule.threshold, rule.window)
            out.append(replace(rule, threshold=threshold, window=window))
    return tuple(out)


class Ratios(NamedTuple):
    cpu: float | None  # share of the CPU limit used since the previous sample
    mem: float  # share of the memory limit in use now
    net_errors_per_s: float | None


@dataclass(frozen=True)
class ResourceState:
    """Per container: the base sample for rates and when each condition was first seen."""

    prev: ResourceSample | None = None
    over_since: Mapping[Condition, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Breach:
    container_id: ContainerId
    condition: Condition
    value: float
    since: float
    detail: str


# --- rates and the sustained tracker --------------------------------------------------------


def ratios(prev: ResourceSample | None, cur: ResourceSample) -> Ratios:
    """Rates are None without a usable base: no sample, too close, or a counter reset."""
    mem = cur.mem_usage_bytes / cur.mem_limit_bytes if cur.mem_limit_bytes > 0 else 0.0
    if prev is None or cur.at - prev.at < MIN_RATE_INTERVAL or restarted(prev, cur):
        return Ratios(None, mem, None)
    dt = cur.at - prev.at
    cpu = (cur.cpu_usage_ns - prev.cpu_usage_ns) / (dt * 1e9) / cur.cpu_limit_cores
    net = None
    if cur.net_errors is not None and prev.net_errors is not None:
        net = (cur.net_errors - prev.net_errors) / dt if cur.net_errors >= prev.net_errors else None
    return Ratios(cpu, mem, net)


def restarted(prev: ResourceSample, cur: ResourceSample) -> bool:
    """A cumulative counter went backwards: the container's processes started over."""
    return cur.cpu_usage_ns < prev.cpu_usage_ns


def sustained(
    over_since: float | None, value: float | None, threshold: float, window: float, now: float
) -> tuple[float | None, bool]:
    """(new over_since, held for the window). No reading keeps the state but never fires:
    the healer acts only on a fresh observation."""
    if value is None:
        return over_since, False
    if value <= threshold:
        return None, False
    since = now if over_since is None else over_since
    return since, now - since >= window


def evaluate(
    state: ResourceState, cur: ResourceSample, rules: Sequence[SustainedRule] = DEFAULT_RULES
) -> tuple[ResourceState, list[Breach]]:
    """One container, one cycle: the state to store and the conditions that have held."""
    prev = state.prev
    over = dict(state.over_since)
    if prev is not None and restarted(prev, cur):
        prev, over = None, {}  # a restart ends whatever episode of high usage there was
    r = ratios(prev, cur)
    breaches: list[Breach] = []
    for rule in rules:
        value = _value(r, rule.condition)
        since, held = sustained(
            over.get(rule.condition), value, rule.threshold, rule.window, cur.at
        )
        over.pop(rule.condition, None)
        if since is not None:
            over[rule.condition] = since
        if held and value is not None and since is not None:
            breaches.append(_breach(cur, rule, value, since))
    keep_prev = prev is not None and cur.at - prev.at < MIN_RATE_INTERVAL
    return ResourceState(prev if keep_prev else cur, over), breaches


def _value(r: Ratios, condition: Condition) -> float | None:
    values = {Condition.MEMORY: r.mem, Condition.CPU: r.cpu, Condition.NETWORK: r.net_errors_per_s}
    return values.get(condition)


def _breach(cur: ResourceSample, rule: SustainedRule, value: float, since: float) -> Breach:
    held = f"for {cur.at - since:.0f}s (rule: > {rule.threshold:g} for {rule.window:g}s)"
    if rule.condition == Condition.MEMORY:
        what = f"memory {value:.0%} of {cur.mem_limit_bytes / 2**20:.0f} MiB"
    elif rule.condition == Condition.CPU:
        what = f"CPU {value:.0%} of {cur.cpu_limit_cores:g} cores"
    else:
        what = f"{value:.1f} network errors+drops/s"
    return Breach(cur.container_id, rule.condition, value, since, f"{what} {held}")


def resource_findings(
    views: Mapping[ServiceId, ServiceView], breaches: Iterable[Breach]
) -> list[Finding]:
    """Breaches grouped per (service, condition); every resource repair is a restart."""
    owner = {c.id: (v.sid, c.name) for v in views.values() for c in v.containers}
    grouped: dict[tuple[ServiceId, Condition], list[tuple[ContainerId, str]]] = {}
    for b in breaches:
        if b.container_id in owner:  # gone since the list call: nothing to repair
            sid, name = owner[b.container_id]
            grouped.setdefault((sid, b.condition), []).append(
                (b.container_id, f"{name}: {b.detail}")
            )
    return [
        Finding(
            sid, cond, Action.RESTART, tuple(c for c, _ in items), "; ".join(d for _, d in items)
        )
        for (sid, cond), items in sorted(grouped.items())
    ]


# --- limits --------------------------------------------------------------------------------


def cpu_limit(quota_cores: float | None, cpuset_cpus: int | None, host_cpus: float) -> float:
    """What 100 % means for a container: the tightest of quota, cpuset and the host. A quota
    of 4 cores on a cpuset of 2 CPUs can use 2; a quota of 0.5 on the same cpuset, half of
    one. Neither is a "precedence": each is a ceiling, and the lowest one binds."""
    limits = [host_cpus] + [x for x in (quota_cores, cpuset_cpus) if x]
    return float(min(limits))


def mem_limit(limit: int | None, host_mem: int) -> int:
    return host_mem if limit is None or limit <= 0 or limit >= host_mem else limit


def working_set(usage: int, inactive_file: int) -> int:
    """`docker stats` subtracts reclaimable page cache; usage alone counts logs being read."""
    return usage - inactive_file if inactive_file < usage else usage


# memory.stat keys of the reclaimable cache, in order: cgroup v1's hierarchical total (its
# plain `inactive_file` leaves out child groups), then v2's (which has only this one).
INACTIVE_FILE_KEYS = ("total_inactive_file", "inactive_file")


def reclaimable_cache(stat: Mapping[str, Any], usage: int) -> int:
    """The inactive file cache to subtract from `usage`, by docker CLI's rule (the stats
    command's calculateMemUsageUnixNoCache): the first of INACTIVE_FILE_KEYS present and below
    usage, else nothing. The same rule for memory.stat files and the stats API's `stats`."""
    for key in INACTIVE_FILE_KEYS:
        value = stat.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < usage:
            return value
    return 0


def memory_working_set(usage: int, stat: Mapping[str, Any]) -> int:
    return working_set(usage, reclaimable_cache(stat, usage))


# --- parsers of cgroup and /proc files ---------------------------------------------------


def parse_int(text: str) -> int:
    return int(text.strip())


def parse_flat_keyed(text: str, key: str) -> int | None:
    """A `key value` line of memory.stat / cpu.stat."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None


def parse_memory_stat(text: str) -> dict[str, int]:
    """The INACTIVE_FILE_KEYS lines of memory.stat (v1 or v2)."""
    found = {k: parse_flat_keyed(text, k) for k in INACTIVE_FILE_KEYS}
    return {k: v for k, v in found.items() if v is not None}


def parse_cpu_stat_v2(text: str) -> int:
    """cpu.stat `usage_usec` in nanoseconds, the unit of v1's cpuacct.usage."""
    usec = parse_flat_keyed(text, "usage_usec")
    if usec is None:
        raise ValueError("cpu.stat has no usage_usec")
    return usec * 1000


def parse_memory_max(text: str) -> int | None:
    """memory.max (v2) or memory.limit_in_bytes (v1); None when unlimited."""
    value = text.strip()
    if value == "max":
        return None
    n = int(value)
    return None if n >= UNLIMITED else n


def parse_cpu_max(text: str) -> float | None:
    """cpu.max (v2) `quota period` in cores; None for `max`."""
    quota, _, period = text.strip().partition(" ")
    if quota == "max":
        return None
    return int(quota) / int(period or "100000")


def parse_cfs_quota(quota_text: str, period_text: str) -> float | None:
    """cpu.cfs_quota_us / cpu.cfs_period_us (v1) in cores; None for -1."""
    quota, period = int(quota_text.strip()), int(period_text.strip())
    return None if quota <= 0 or period <= 0 else quota / period


def parse_cpuset(text: str) -> int | None:
    """Number of CPUs in a list like `0-3,6`; None when empty (inherits the parent's)."""
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count or None


def parse_net_dev(text: str) -> int:
    """rx+tx errs+drops of every interface but loopback, from /proc/<pid>/net/dev."""
    total = 0
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(":")
        fields = counters.split()
        if name.strip() == "lo" or len(fields) < 12:
            continue
        total += sum(int(fields[i]) for i in (2, 3, 10, 11))
    return total


# --- the Docker stats API payload ----------------------------------------------------------


def sample_from_stats(
    cid: ContainerId, at: float, payload: Mapping[str, Any], quota_cores: float | None
) -> ResourceSample:
    """The stats API (one_shot) in the same units as the cgroup files. It has no CPU quota:
    that comes from inspect (`quota_from_host_config`)."""
    cpu = payload.get("cpu_stats") or {}
    mem = payload.get("memory_stats") or {}
    usage = int(mem.get("usage", 0))
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [1])
    # No `networks` key means no interface but loopback (network_mode none/host): 0 errors.
    errors = sum(
        int(n.get(k, 0))
        for n in (payload.get("networks") or {}).values()
        for k in ("rx_errors", "rx_dropped", "tx_errors", "tx_dropped")
    )
    return ResourceSample(
        container_id=cid,
        at=at,
        cpu_usage_ns=int((cpu.get("cpu_usage") or {}).get("total_usage", 0)),
        cpu_limit_cores=cpu_limit(quota_cores, None, float(online)),
        mem_usage_bytes=memory_working_set(usage, mem.get("stats") or {}),
        mem_limit_bytes=int(mem.get("limit", 0)),
        net_errors=errors,
    )


def quota_from_host_config(host_config: Mapping[str, Any]) -> float | None:
    """Cores allowed by `cpus:` (NanoCpus) or cpu_quota/cpu_period, and by `cpuset:`: the
    tighter of the two (`cpu_limit`), None when neither is set. The engine refuses NanoCpus
    together with CpuQuota; should a payload carry both, NanoCpus (what `--cpus` set) counts.
    A CpuPeriod of 0 is the kernel's default period, 100 ms."""
    nano = int(host_config.get("NanoCpus") or 0)
    quota, period = int(host_config.get("CpuQuota") or 0), int(host_config.get("CpuPeriod") or 0)
    cores = nano / 1e9 if nano > 0 else (quota / (period or 100000) if quota > 0 else None)
    cpuset = parse_cpuset(host_config.get("CpusetCpus") or "")
    return cpu_limit(cores, cpuset, float("inf")) if (cores or cpuset) else None


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup as controller → path; the v2 unified entry is under ""."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths[controller.removeprefix("name=")] = parts[2]
    return paths
