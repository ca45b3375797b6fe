"""A guarded repair, as one pipeline: the service read once → checks → the service's lock and
a repair slot → the containers re-read once → checks that narrow them → the atomic claim
(`backoff.decide` through the guard) → act → verify. Each check returns a `Skip` (a shared
`SkipReason` and why) or nothing; the outcome is recorded in one place, `repair`, through
engine/repair/outcome.py. Nothing here decides policy.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from healer.adapters.store.guard import Lock
from healer.core.container_state import ContainerState
from healer.core.labels import ServiceLabels, parse_service_labels
from healer.core.model import (
    INTENT_SOURCES,
    OPERATOR_SOURCES,
    ContainerId,
    Outcome,
    RepairRequest,
    ServiceView,
    SkipReason,
)
from healer.core.repair.backoff import Decision, Verdict
from healer.core.repair.work import FINISH_SLACK, repair_budget, stop_grace
from healer.engine.context import Healer
from healer.engine.repair import actions, gates, reread
from healer.engine.repair import limit as repair_limit
from healer.engine.repair.outcome import RepairResult, finish_repair
from healer.errors import RetryLater


class Busy(RetryLater):
    """Another repair of this service holds the lock; retry after `retry_after` seconds.

    `held_for` is what is left of the holder's lease (its lock is stretched to its work, so it
    may outlive HEALER_LOCK_TTL): a waiting request keeps waiting while a lease runs."""

    def __init__(self, retry_after: float, held_for: float = 0.0) -> None:
        super().__init__(f"repair in flight, retry in {retry_after}s", retry_after)
        self.held_for = held_for


class SlotsFull(Busy):
    """HEALER_REPAIR_CONCURRENCY repairs are acting already: every source waits its turn."""


@dataclass(frozen=True)
class Skip:
    """A check's verdict that the repair must not act: why, in the shared SkipReason."""

    reason: SkipReason
    detail: str = ""
    once: bool = False  # a probe's skip that repeats each cycle is recorded once


@dataclass(frozen=True)
class Ending:
    """How the repair ended, recorded in one place (`repair`)."""

    result: RepairResult
    once: bool = False
    acted_as: RepairRequest | None = None  # the request with its escalated action, if changed

    @classmethod
    def skipped(cls, skip: Skip, attempt: int = 0) -> Ending:
        return cls(
            RepairResult(Outcome.SKIPPED, skip.reason.value, skip.detail, attempt), skip.once
        )


@dataclass(frozen=True)
class Asked:
    """The request and the service as read once, before the lock."""

    req: RepairRequest
    view: ServiceView | None
    labels: ServiceLabels | None
    targets: gates.Targets | None


Containers = reread.Containers


def repair(h: Healer, req: RepairRequest) -> RepairResult:
    """Read → checks → lock and slot → re-read → checks → claim → act; recorded once, here.
    Raises Busy / SlotsFull (RetryLater) when it must wait for another repair."""
    ending = _run(h, _asked(h, req))
    return finish_repair(h, ending.acted_as or req, ending.result, once=ending.once)


def _asked(h: Healer, req: RepairRequest) -> Asked:
    view = h.engine.services(req.sid).get(req.sid)
    if view is None:
        return Asked(req, None, None, None)
    labels = parse_service_labels(view.labels, actions.plugin_names())
    return Asked(req, view, labels, gates.targets(req, view))


# --- checks before the lock: each returns a Skip or None, in this order --------------------


def _exists(h: Healer, a: Asked) -> Skip | None:
    return None if a.view else Skip(SkipReason.NOT_FOUND, "no container of this service exists")


def _opted_in(h: Healer, a: Asked) -> Skip | None:
    return Skip(SkipReason.OPTED_OUT) if a.labels and a.labels.opted_out else None


def _not_paused(h: Healer, a: Asked) -> Skip | None:
    if a.req.source not in OPERATOR_SOURCES and h.flags.is_paused(a.req.sid):
        return Skip(SkipReason.PAUSED)
    return None


def _own_targets(h: Healer, a: Asked) -> Skip | None:
    t = a.targets
    if t is not None and t.foreign and not t.ids:
        why = f"container(s) {', '.join(t.foreign)} are not containers of {a.req.sid}"
        return Skip(SkipReason.INVALID_TARGET, why)
    return None


BEFORE_LOCK: tuple[Callable[[Healer, Asked], Skip | None], ...] = (
    _exists,
    _opted_in,
    _not_paused,
    _own_targets,
)


def _run(h: Healer, a: Asked) -> Ending:
    for check in BEFORE_LOCK:
        if (skip := check(h, a)) is not None:
            return Ending.skipped(skip)
    assert a.labels is not None and a.targets is not None  # _exists passed
    req = a.req
    with h.guard.service_lock(req.sid, h.settings.lock_ttl) as lock:
        if lock is None:
            if req.source in INTENT_SOURCES:
                raise Busy(1.0, h.guard.lock_left(req.sid))
            return Ending.skipped(Skip(SkipReason.IN_FLIGHT, once=True))
        # The slot is taken before the claim, so a repair waiting for one spends no attempt.
        slot = repair_limit.wait_for_slot(h)
        if slot is None:
            raise SlotsFull(0.2 + random.random() * 0.3)  # jitter: no retry herd
        lease = _Lease(lock, slot)
        try:
            return _guarded(h, req, a.labels, a.targets.ids, lease)
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


# --- under the lock: the containers re-read once, then the checks that narrow them ---------


def _still_failing(h: Healer, req: RepairRequest, now: Containers) -> Containers | Skip:
    """An operator's or alert's request acts anyway; a probe's acts on what still fails."""
    if req.source in INTENT_SOURCES:
        return now
    failing = {cid: i for cid, i in now.items() if reread.failing(req.condition, i)}
    return failing or Skip(SkipReason.RECOVERED, "state changed before acting")


def _not_hand_stopped(h: Healer, req: RepairRequest, now: Containers) -> Containers | Skip:
    stopped = gates.hand_stopped(h, req, now)
    if stopped and stopped >= set(now):
        why = "stopped by hand; HEALER_RESPECT_MANUAL_STOP keeps it down (docker start to undo)"
        return Skip(SkipReason.MANUAL_STOP, why)
    left = {cid: i for cid, i in now.items() if cid not in stopped}
    return left or Skip(SkipReason.NOT_FOUND, "containers gone before acting")


def _not_braked(h: Healer, req: RepairRequest, now: Containers) -> Containers | Skip:
    braked = gates.storm_brake(h, req, now)
    if braked:
        return Skip(SkipReason.STORM_BRAKE, braked, once=req.source not in INTENT_SOURCES)
    return now


UNDER_LOCK: tuple[Callable[[Healer, RepairRequest, Containers], Containers | Skip], ...] = (
    _still_failing,
    _not_hand_stopped,
    _not_braked,
)


def _guarded(
    h: Healer,
    req: RepairRequest,
    labels: ServiceLabels,
    targets: tuple[ContainerId, ...],
    lease: _Lease,
) -> Ending:
    now: Containers = reread.observe(h, req, targets)
    for check in UNDER_LOCK:
        narrowed = check(h, req, now)
        if isinstance(narrowed, Skip):
            return Ending.skipped(narrowed)
        now = narrowed
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
        return Ending(_redelivered(h, req, decision, now))
    if decision.verdict != Verdict.ACT:
        return _not_acting(h, req, decision, now)
    if req.source not in INTENT_SOURCES:
        # Escalation (healer.<condition>.actions): attempt k uses the k-th action.
        req = replace(
            req, action=labels.action(req.condition, decision.episode.attempts, req.action)
        )
    return Ending(_act(h, req, decision, now, lease, labels), acted_as=req)


def _redelivered(h: Healer, req: RepairRequest, d: Decision, inspected: Containers) -> RepairResult:
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
            c.running and (c.started_at or 0.0) >= claimed - 1.0 for c in now.values()
        ):
            detail = f"{note}; its action took effect: started since the claim"
            return RepairResult(Outcome.ACTED, d.reason, detail, d.episode.attempts)
        if time.monotonic() >= deadline:
            detail = f"{note}; it did not take effect, a later probe requests a new repair"
            return RepairResult(Outcome.FAILED, d.reason, detail, d.episode.attempts)
        time.sleep(0.2)


def _not_acting(h: Healer, req: RepairRequest, d: Decision, inspected: Containers) -> Ending:
    if d.verdict == Verdict.QUARANTINE:
        detail = f"{d.reason}; containers left as they are for inspection: " + ", ".join(
            c.name for c in inspected.values()
        )
        h.notifier.send(
            "critical",
            f"{h.host}/{req.sid} quarantined",
            detail,
            {"service": req.sid, "host": h.host, "condition": req.condition.value},
        )
        return Ending(RepairResult(Outcome.QUARANTINED, "max_attempts", detail, d.episode.attempts))
    waiting = SkipReason.BACKOFF if d.episode.attempts > 1 else SkipReason.COOLDOWN
    reason = SkipReason.QUARANTINED if d.verdict == Verdict.QUARANTINED else waiting
    once = req.source not in INTENT_SOURCES
    return Ending.skipped(Skip(reason, d.reason, once), d.episode.attempts)


def _act(
    h: Healer,
    req: RepairRequest,
    d: Decision,
    inspected: Containers,
    lease: _Lease,
    labels: ServiceLabels,
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
    inspected: Containers,
    labels: ServiceLabels,
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
    return result


def _grace(h: Healer, c: ContainerState) -> int:
    return stop_grace(h.settings.stop_timeout, c.stop_timeout)


def _exit_note(c: ContainerState) -> str:
    if c.oom_killed:
        return f"{c.name} was OOM-killed (exit code {c.exit_code})"
    if c.stopped:
        return f"{c.name} exited with code {c.exit_code}"
    return ""
