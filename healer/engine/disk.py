"""The disk repair: when the Docker data root (or HEALER_DISK_PATH) is too full, a safe
cleanup — dangling images, build cache, loose stopped containers, old log files; never a
volume, never a compose container — through the same lock, cooldown and history."""

from __future__ import annotations

from dataclasses import dataclass, field

from healer.adapters.docker.cleanup import (
    apply_cleanup,
    disk_usage,
    docker_data_root,
    plan_cleanup,
)
from healer.adapters.store.history import Record
from healer.core.cleanup import CleanupPlan
from healer.core.model import (
    OPERATOR_SOURCES,
    Condition,
    Outcome,
    ServiceId,
    SkipReason,
    Source,
)
from healer.core.repair.backoff import RestartPolicy, Verdict
from healer.engine.context import Healer

DISK_SID = ServiceId("host/disk")


@dataclass(frozen=True)
class DiskResult:
    outcome: Outcome  # OK, ACTED, SKIPPED, FAILED or DRY_RUN
    path: str
    used_ratio: float
    reason: str = ""
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)


def watched_path(h: Healer) -> str:
    s = h.settings
    return str(s.disk_path) if s.disk_path else docker_data_root(h.engine.client)


def check_disk(h: Healer, source: Source = Source.PROBE, dry_run: bool = False) -> DiskResult:
    path = watched_path(h)
    ratio = disk_usage(path)[0]
    h.telemetry.disk_usage(path, ratio, h.settings.disk_interval)
    # Only an operator's own request cleans below the threshold; an alert is told what the
    # disk is like by whatever sends it, so it gets the same threshold as the probe.
    if source not in OPERATOR_SOURCES and ratio < h.settings.disk_threshold:
        return DiskResult(Outcome.OK, path, ratio, f"{ratio:.0%} used, below the threshold")
    # `healer pause` is the operator's "leave it alone": the scheduled cleanup and an alert's
    # honour it (the operator's own `healer cleanup` does not need to).
    if source not in OPERATOR_SOURCES and not dry_run and h.flags.paused_all():
        why = "paused by an operator (healer pause)"
        skipped = DiskResult(Outcome.SKIPPED, path, ratio, SkipReason.PAUSED.value)
        return _record(h, skipped, source, why)
    if dry_run:
        report = apply_cleanup(h.engine.client, _plan(h), dry_run=True)
        return DiskResult(
            Outcome.DRY_RUN, path, ratio, "dry run", report.removed, report.bytes_freed
        )
    with h.guard.service_lock(DISK_SID, h.settings.lock_ttl) as lock:
        if lock is None:
            return _record(h, DiskResult(Outcome.SKIPPED, path, ratio, "in_flight"), source)
        return _guarded(h, path, ratio, source)


def _guarded(h: Healer, path: str, ratio: float, source: Source) -> DiskResult:
    cooldown, attempts = h.settings.condition_defaults(Condition.DISK)
    # Cleanup is safe to repeat, so it never quarantines; an operator's request skips the
    # cooldown because they asked for it now (an alert's does not: alerts can repeat fast).
    policy = RestartPolicy(
        0 if source in OPERATOR_SOURCES else cooldown,
        attempts if source not in OPERATOR_SOURCES else 10**6,
        h.settings.backoff_max,
        h.settings.reset_after,
        quarantines=False,
    )
    decision = h.guard.claim(
        DISK_SID, Condition.DISK, policy, h.clock(), ttl=h.settings.quarantine_ttl
    )
    if decision.verdict != Verdict.ACT:
        return _record(h, DiskResult(Outcome.SKIPPED, path, ratio, decision.reason), source)
    report = apply_cleanup(h.engine.client, _plan(h))
    h.telemetry.cleanup_freed(report.bytes_freed)
    h.counters.repair("host", "cleanup", not report.errors)
    outcome = Outcome.ACTED if not report.errors else Outcome.FAILED
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


def _record(h: Healer, r: DiskResult, source: Source, why: str = "") -> DiskResult:
    detail = why or f"freed {r.bytes_freed} bytes: " + ", ".join(r.removed[:20])
    if r.errors:
        detail += "; errors: " + "; ".join(r.errors[:5])
    rec = Record(
        sid=DISK_SID,
        outcome=r.outcome,
        condition="disk",
        action="cleanup",
        reason=r.reason,
        detail=detail if r.outcome != Outcome.SKIPPED or why else "",
        source=source,
    )
    # A check every HEALER_DISK_INTERVAL would repeat the same skip: record it once.
    if r.outcome == Outcome.SKIPPED:
        h.history.record_skip_once(rec)
    else:
        h.history.record(rec)
    return r
