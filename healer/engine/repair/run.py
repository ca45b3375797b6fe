"""A guarded repair: lock → re-read the containers → claim the slot → act → verify → record.

Each step can end the repair with a recorded reason (engine/repair/outcome.py); nothing here
decides policy, it asks `backoff.decide` (through the guard's atomic claim) and
`policy.still_failing` (engine/repair/reread.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from healer.adapters.store.guard import Lock
from healer.core.labels import parse_service_labels
from healer.core.model import (
    INTENT_SOURCES,
    OPERATOR_SOURCES,
    ContainerId,
    Outcome,
    RepairRequest,
    SkipReason,
)
from healer.core.repair.backoff import Decision, Verdict
from healer.core.repair.work import FINISH_SLACK, repair_budget, stop_grace
from healer.engine.context import Healer
from healer.engine.repair import actions, gates, reread
from healer.engine.repair import limit as repair_limit
from healer.engine.repair.outcome import RepairResult, finish_repair
from healer.errors import RetryLater

STORM_BRAKE = SkipReason.STORM_BRAKE.value
INVALID_TARGET = SkipReason.INVALID_TARGET.value


class Busy(RetryLater):
    """Another repair of this service holds the lock; retry after `retry_after` seconds.

    `held_for` is what is left of the holder's lease (its lock is stretched to its work, so it
    may outlive HEALER_LOCK_TTL): a waiting request keeps waiting while a lease runs."""

    def __init__(self, retry_after: float, held_for: float = 0.0) -> None:
        super().__init__(f"repair in flight, retry in {retry_after}s", retry_after)
        self.held_for = held_for


class SlotsFull(Busy):
    """HEALER_REPAIR_CONCURRENCY repairs are acting already: every source waits its turn."""


def repair(h: Healer, req: RepairRequest) -> RepairResult:
    services = h.engine.services(req.sid)
    view = services.get(req.sid)
    if view is None:
        return finish_repair(
            h,
            req,
            RepairResult(
                Outcome.SKIPPED, SkipReason.NOT_FOUND.value, "no container of this service exists"
            ),
        )
    labels = parse_service_labels(view.labels, actions.plugin_names())
    if labels.opted_out:
        return finish_repair(h, req, RepairResult(Outcome.SKIPPED, SkipReason.OPTED_OUT.value))
    if req.source not in OPERATOR_SOURCES and h.flags.is_paused(req.sid):
        return finish_repair(h, req, RepairResult(Outcome.SKIPPED, SkipReason.PAUSED.value))
    chosen = gates.targets(req, view)
    if chosen.foreign and not chosen.ids:
        why = f"container(s) {', '.join(chosen.foreign)} are not containers of {req.sid}"
        return finish_repair(h, req, RepairResult(Outcome.SKIPPED, INVALID_TARGET, why))
    with h.guard.service_lock(req.sid, h.settings.lock_ttl) as lock:
        if lock is None:
            if req.source in INTENT_SOURCES:
                raise Busy(1.0, h.guard.lock_left(req.sid))
            return finish_repair(
                h, req, RepairResult(Outcome.SKIPPED, SkipReason.IN_FLIGHT.value), once=True
            )
        # The slot is taken before the claim, so a repair waiting for one spends no attempt.
        slot = repair_limit.wait_for_slot(h)
        if slot is None:
            raise SlotsFull(0.2 + random.random() * 0.3)  # jitter: no retry herd
        lease = _Lease(lock, slot)
        try:
            return _guarded(h, req, labels, chosen.ids, lease)
        finally:
            h.guard.release_slot(lease.token)


@dataclass(frozen=True)
class _Lease:
    """What a repair holds while it acts; every TTL in it is stretched to the work."""

    lock: Lock
    token: str

    def stretch(self, h: Healer, seconds: float) -> float:
        ttl = max(h.settings.lock_ttl, seconds)
        self.lock.extend(ttl)
        h.guard.extend_slot(self.token, h.clock(), ttl)
        return ttl


def _guarded(
    h: Healer,
    req: RepairRequest,
    labels: Any,
    targets: tuple[ContainerId, ...],
    lease: _Lease,
) -> RepairResult:
    inspected = reread.observe(h, req, targets)
    if req.source not in INTENT_SOURCES:
        failing = {cid: i for cid, i in inspected.items() if reread.failing(req.condition, i)}
        if not failing:
            return finish_repair(
                h,
                req,
                RepairResult(
                    Outcome.SKIPPED, SkipReason.RECOVERED.value, "state changed before acting"
                ),
            )
        inspected = failing
    stopped = gates.hand_stopped(h, req, inspected)
    if stopped and stopped >= set(inspected):
        why = "stopped by hand; HEALER_RESPECT_MANUAL_STOP keeps it down (docker start to undo)"
        return finish_repair(
            h, req, RepairResult(Outcome.SKIPPED, SkipReason.MANUAL_STOP.value, why)
        )
    inspected = {cid: i for cid, i in inspected.items() if cid not in stopped}
    if not inspected:
        return finish_repair(
            h,
            req,
            RepairResult(
                Outcome.SKIPPED, SkipReason.NOT_FOUND.value, "containers gone before acting"
            ),
        )
    braked = gates.storm_brake(h, req, inspected)
    if braked:
        result = RepairResult(Outcome.SKIPPED, STORM_BRAKE, braked)
        return finish_repair(h, req, result, once=req.source not in INTENT_SOURCES)
    policy = h.defaults.restart_policy(labels, req.condition)
    decision = h.guard.claim(
        req.sid,
        req.condition,
        policy,
        h.clock(),
        request_id=req.request_id,
        ttl=h.settings.quarantine_ttl,
    )
    if decision.verdict == Verdict.REDELIVERED:
        return _redelivered(h, req, decision, inspected)
    if decision.verdict != Verdict.ACT:
        return _not_acting(h, req, decision, inspected)
    if req.source not in INTENT_SOURCES:
        # Escalation (healer.<condition>.actions): attempt k uses the k-th action.
        req = replace(
            req, action=labels.action(req.condition, decision.episode.attempts, req.action)
        )
    return _act(h, req, decision, inspected, lease, labels)


def _redelivered(
    h: Healer, req: RepairRequest, d: Decision, inspected: dict[ContainerId, dict[str, Any]]
) -> RepairResult:
    """End a request whose first delivery was lost mid-repair, without acting again.

    The lost delivery may have been the worker that restarted its own container; acting again
    would restart it again, forever. A container (re)started since the slot was claimed shows
    the action took effect; one still stopping gets the verify timeout to come back.
    """
    claimed = d.episode.last_repair_at or 0.0
    deadline = time.monotonic() + h.settings.verify_timeout
    note = "the delivery that claimed this repair was lost; not repeated (at most once)"
    while True:
        now = reread.inspect_all(h, tuple(inspected))
        # 1 s of slack: the engine's clock stamps StartedAt, the worker's stamps the claim.
        if len(now) == len(inspected) and all(
            (i.get("State") or {}).get("Running") and reread.started_at(i) >= claimed - 1.0
            for i in now.values()
        ):
            detail = f"{note}; its action took effect: started since the claim"
            return finish_repair(
                h, req, RepairResult(Outcome.ACTED, d.reason, detail, d.episode.attempts)
            )
        if time.monotonic() >= deadline:
            detail = f"{note}; it did not take effect, a later probe requests a new repair"
            return finish_repair(
                h, req, RepairResult(Outcome.FAILED, d.reason, detail, d.episode.attempts)
            )
        time.sleep(0.2)


def _not_acting(
    h: Healer, req: RepairRequest, d: Decision, inspected: dict[ContainerId, dict[str, Any]]
) -> RepairResult:
    if d.verdict == Verdict.QUARANTINE:
        detail = f"{d.reason}; containers left as they are for inspection: " + ", ".join(
            _name(i) for i in inspected.values()
        )
        h.notifier.send(
            "critical",
            f"{h.host}/{req.sid} quarantined",
            detail,
            {"service": req.sid, "host": h.host, "condition": req.condition.value},
        )
        return finish_repair(
            h, req, RepairResult(Outcome.QUARANTINED, "max_attempts", detail, d.episode.attempts)
        )
    reason = {Verdict.QUARANTINED: SkipReason.QUARANTINED.value}.get(
        d.verdict, SkipReason.BACKOFF.value if d.episode.attempts > 1 else SkipReason.COOLDOWN.value
    )
    return finish_repair(
        h,
        req,
        RepairResult(Outcome.SKIPPED, reason, d.reason, d.episode.attempts),
        once=req.source not in INTENT_SOURCES,
    )


def _act(
    h: Healer,
    req: RepairRequest,
    d: Decision,
    inspected: dict[ContainerId, dict[str, Any]],
    lease: _Lease,
    labels: Any,
) -> RepairResult:
    # Every TTL the repair holds is derived from its work: the lock and slot must not expire
    # while it still acts (another repair or the scaler would act too), and the acting mark
    # must cover the last stop so the watcher never takes it for a hand stop.
    graces = (_grace(h, i) for i in inspected.values())
    budget = repair_budget(req.action, graces, h.settings.verify_timeout)
    if actions.is_plugin(req.action):
        budget += h.settings.strategy_time_limit  # the plugin's own limit bounds its work
    ttl = lease.stretch(h, budget)
    h.state.mark_acting(inspected, ttl)
    op = {
        "sid": req.sid,
        "condition": req.condition.value,
        "request": req.request_id,
        "attempt": d.episode.attempts,
        "episode": d.episode.started_at,
    }
    h.oplog.write("begin", **op, action=str(req.action), budget=ttl, containers=list(inspected))
    outcome = "error"
    try:
        until = time.monotonic() + ttl

        def keep(seconds: float) -> None:
            # A rolling repair waits for health between waves: its lease grows with it,
            # and never shrinks below what the repair was given.
            nonlocal until
            wanted = time.monotonic() + seconds + FINISH_SLACK
            if wanted > until:
                until = wanted
                h.state.mark_acting(inspected, lease.stretch(h, wanted - time.monotonic()))

        result = _act_marked(h, req, d, inspected, labels, keep)
        outcome = str(result.outcome)
        return result
    finally:
        h.oplog.write("end", **op, outcome=outcome)
        h.state.clear_acting(inspected)


def _act_marked(
    h: Healer,
    req: RepairRequest,
    d: Decision,
    inspected: dict[ContainerId, dict[str, Any]],
    labels: Any,
    keep: Callable[[float], None],
) -> RepairResult:
    notes = [_exit_note(i) for i in inspected.values()]
    done = actions.perform(h, req, inspected, d.episode.attempts, labels.rollout, keep)
    errors = done.errors
    ok = not errors
    for _ in inspected:
        h.counters.repair(req.sid, str(req.action), ok)
    detail = "; ".join(n for n in [*notes, *done.notes, *errors] if n)
    result = RepairResult(
        Outcome.ACTED if ok else Outcome.FAILED, d.reason, detail, d.episode.attempts
    )
    if not ok:
        h.notifier.send(
            "warning",
            f"repair of {h.host}/{req.sid} failed",
            detail,
            {"service": req.sid, "host": h.host, "action": str(req.action)},
        )
    return finish_repair(h, req, result)


def _grace(h: Healer, info: dict[str, Any]) -> int:
    return stop_grace(h.settings.stop_timeout, (info.get("Config") or {}).get("StopTimeout"))


def _exit_note(info: dict[str, Any]) -> str:
    state = info.get("State") or {}
    if state.get("OOMKilled"):
        return f"{_name(info)} was OOM-killed (exit code {state.get('ExitCode')})"
    if state.get("Status") in ("exited", "dead"):
        return f"{_name(info)} exited with code {state.get('ExitCode')}"
    return ""


def _name(info: dict[str, Any]) -> str:
    return str(info.get("Name", "?")).lstrip("/")
