"""Where a container's cgroup files are, for cgroup v1 and v2 and both Docker cgroup drivers,
and one resource sample read from them. Pure parsing lives in healer.core.resources.

Layouts found (relative to the cgroup root, `<id>` the full container id):
- v2 (unified): `system.slice/docker-<id>.scope` (systemd driver) or `docker/<id>` (cgroupfs);
- v1: `<controller>/docker/<id>` or `<controller>/system.slice/docker-<id>.scope` for the
  memory, cpu, cpuacct and cpuset controllers;
- or the path /proc/<pid>/cgroup names (a custom `cgroup_parent`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from healer.core import resources as res
from healer.core.model import ContainerId
from healer.core.resources import ResourceSample


@dataclass(frozen=True)
class CgroupFiles:
    """The files one sample reads; v1 spreads them over controllers, v2 has one folder."""

    cpu_usage: Path
    mem_usage: Path
    mem_limit: Path
    mem_stat: Path
    cpu_quota: Path
    cpu_period: Path | None  # v1 only; v2's cpu.max holds both
    cpuset: Path
    procs: Path
    v2: bool


def cgroup_version(root: Path) -> int | None:
    if (root / "cgroup.controllers").exists():
        return 2
    if (root / "memory").is_dir():
        return 1  # also "hybrid" hosts, where the v2 tree is mounted beside at unified/
    return None


def _candidates(cid: str, from_proc: str | None) -> list[str]:
    """cgroupfs and systemd driver layouts; /proc's path first (custom cgroup_parent), unless
    it is relative to another cgroup namespace ("/../…")."""
    known = [f"docker/{cid}", f"system.slice/docker-{cid}.scope"]
    if from_proc and cid in from_proc and not from_proc.startswith("/.."):
        known.insert(0, from_proc.lstrip("/"))
    return known


def find_cgroup(root: Path, version: int, cid: str, proc: Mapping[str, str]) -> CgroupFiles | None:
    if version == 2:
        for rel in _candidates(cid, proc.get("")):
            d = root / rel
            if (d / "memory.current").exists():
                return CgroupFiles(
                    d / "cpu.stat", d / "memory.current", d / "memory.max", d / "memory.stat",
                    d / "cpu.max", None, d / "cpuset.cpus.effective", d / "cgroup.procs", True,
                )  # fmt: skip
        return None
    for rel in _candidates(cid, proc.get("memory")):
        mem = root / "memory" / rel
        if (mem / "memory.usage_in_bytes").exists():
            cpu, acct, cpuset = root / "cpu" / rel, root / "cpuacct" / rel, root / "cpuset" / rel
            return CgroupFiles(
                acct / "cpuacct.usage", mem / "memory.usage_in_bytes",
                mem / "memory.limit_in_bytes", mem / "memory.stat", cpu / "cpu.cfs_quota_us",
                cpu / "cpu.cfs_period_us", cpuset / "cpuset.cpus", mem / "cgroup.procs", False,
            )  # fmt: skip
    return None


def read_optional(path: Path | None) -> str | None:
    # cpu.max and cpuset.* exist in v2 only where the controller is delegated to the group.
    try:
        return None if path is None else path.read_text()
    except FileNotFoundError:
        return None


def _quota(files: CgroupFiles) -> float | None:
    quota = read_optional(files.cpu_quota)
    if quota is None:
        return None
    if files.v2:
        return res.parse_cpu_max(quota)
    period = read_optional(files.cpu_period)
    return None if period is None else res.parse_cfs_quota(quota, period)


def read_cgroup(
    files: CgroupFiles, cid: ContainerId, at: float, host_cpus: float, host_mem: int
) -> ResourceSample:
    """One sample from the cgroup files (net_errors is filled in by the caller)."""
    cpu_text = files.cpu_usage.read_text()
    cpu_ns = res.parse_cpu_stat_v2(cpu_text) if files.v2 else res.parse_int(cpu_text)
    mem_stat = res.parse_memory_stat(files.mem_stat.read_text())
    mem_usage = res.parse_int(files.mem_usage.read_text())
    cpuset = read_optional(files.cpuset)
    return ResourceSample(
        container_id=cid,
        at=at,
        cpu_usage_ns=cpu_ns,
        cpu_limit_cores=res.cpu_limit(
            _quota(files), res.parse_cpuset(cpuset) if cpuset else None, host_cpus
        ),
        mem_usage_bytes=res.memory_working_set(mem_usage, mem_stat),
        mem_limit_bytes=res.mem_limit(res.parse_memory_max(files.mem_limit.read_text()), host_mem),
        net_errors=None,
    )
