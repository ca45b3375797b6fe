"""The disk repair: when the Docker data root (or HEALER_DISK_PATH) is too full, a safe
cleanup — dangling images, build cache, loose stopped containers, old log files; never a
volume, never a compose container — through the same lock, cooldown and history."""

from __future__ import annotations

from dataclasses import dataclass, field

from healer.adapters import guard, keys
from healer.adapters.cleanup import (
    CleanupPlan,
    apply_cleanup,
    disk_usage,
    docker_data_root,
    plan_cleanup,
)
from healer.adapters.history import Record
from healer.adapters.metrics import CLEANUP_BYTES, DISK_USAGE
from healer.core.backoff import RestartPolicy, Verdict
from healer.core.model import Condition, ServiceId, SkipReason
from healer.engine.context import Healer

DISK_SID = ServiceId("host/disk")
INTENT = frozenset({"cli", "api", "alert"})
OPERATOR = frozenset({"cli", "api"})


@dataclass(frozen=True)
class DiskResult:
    outcome: str  # ok|acted|skipped|failed|dry_run
    path: str
    used_ratio: float
    reason: str = ""
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)


def watched_path(h: Healer) -> str:
    s = h.settings
    return str(s.disk_path) if s.disk_path else docker_data_root(h.engine.client)


def check_disk(h: Healer, source: str = "probe", dry_run: bool = False) -> DiskResult:
    path = watched_path(h)
    ratio = disk_usage(path)[0]
    h.redis.hset(DISK_USAGE, path, repr(ratio))
    h.redis.expire(DISK_USAGE, 3 * int(h.settings.disk_interval) + 60)
    if source not in INTENT and ratio < h.settings.disk_threshold:
        return DiskResult("ok", path, ratio, f"{ratio:.0%} used, below the threshold")
    # `healer pause` is the operator's "leave it alone": the scheduled cleanup and an alert's
    # honour it (the operator's own `healer cleanup` does not need to).
    if source not in OPERATOR and not dry_run and h.redis.exists(keys.PAUSED_ALL):
        why = "paused by an operator (healer pause)"
        return _record(h, DiskResult("skipped", path, ratio, SkipReason.PAUSED.value), source, why)
    if dry_run:
        report = apply_cleanup(h.engine.client, _plan(h), dry_run=True)
        return DiskResult("dry_run", path, ratio, "dry run", report.removed, report.bytes_freed)
    with guard.service_lock(h.redis, DISK_SID, h.settings.lock_ttl) as lock:
        if lock is None:
            return _record(h, DiskResult("skipped", path, ratio, "in_flight"), source)
        return _guarded(h, path, ratio, source)


def _guarded(h: Healer, path: str, ratio: float, source: str) -> DiskResult:
    cooldown, attempts = h.settings.condition_defaults(Condition.DISK)
    # Cleanup is safe to repeat, so it never quarantines; an operator's request skips the
    # cooldown because they asked for it now.
    policy = RestartPolicy(
        0 if source in INTENT else cooldown,
        attempts if source not in INTENT else 10**6,
        h.settings.backoff_max,
        h.settings.reset_after,
        quarantines=False,
    )
    decision = guard.claim(
        h.redis, DISK_SID, Condition.DISK, policy, h.clock(), ttl=h.settings.quarantine_ttl
    )
    if decision.verdict != Verdict.ACT:
        return _record(h, DiskResult("skipped", path, ratio, decision.reason), source)
    report = apply_cleanup(h.engine.client, _plan(h))
    h.redis.incrby(CLEANUP_BYTES, report.bytes_freed)
    h.counters.repair("host", "cleanup", not report.errors)
    outcome = "acted" if not report.errors else "failed"
    result = DiskResult(
        outcome, path, ratio, f"{ratio:.0%} used", report.removed, report.bytes_freed, report.errors
    )
    return _record(h, result, source)


def _plan(h: Healer) -> CleanupPlan:
    s = h.settings
    return plan_cleanup(
        h.engine.client,
        s.log_dir_list,
        s.cleanup_max_age_days,
        min_container_age=s.cleanup_min_age,
    )


def _record(h: Healer, r: DiskResult, source: str, why: str = "") -> DiskResult:
    detail = why or f"freed {r.bytes_freed} bytes: " + ", ".join(r.removed[:20])
    if r.errors:
        detail += "; errors: " + "; ".join(r.errors[:5])
    rec = Record(
        sid=DISK_SID,
        outcome=r.outcome,
        condition="disk",
        action="cleanup",
        reason=r.reason,
        detail=detail if r.outcome != "skipped" or why else "",
        source=source,
    )
    # A check every HEALER_DISK_INTERVAL would repeat the same skip: record it once.
    if r.outcome == "skipped":
        h.history.record_skip_once(rec)
    else:
        h.history.record(rec)
    return r
