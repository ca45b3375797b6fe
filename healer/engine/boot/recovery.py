"""Ordered recovery of one project after an engine restart: observe → plan (pure
``healer.core.boot.plan.step``) → stop/start → record, until every service is good or given up.

It holds the project's services' repair locks throughout, so no repair races it, and the
project's ``booting`` flag tells the reconcile to leave the project alone meanwhile.
Nothing here charges repair attempts or cooldowns: the engine restart was nobody's failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from healer.adapters.docker.engine import ContainerGone, EngineError
from healer.adapters.store.boot import BootStore
from healer.adapters.store.guard import Lock
from healer.adapters.store.history import Record
from healer.core.boot.detect import service_state
from healer.core.boot.plan import Blocked, BootRules, Progress, ServiceState, Step, boot_rules, step
from healer.core.boot.plan import targets_for as boot_targets
from healer.core.boot.report import status_record, summary
from healer.core.container_state import ContainerState
from healer.core.labels import parse_service_labels
from healer.core.model import ContainerId, Outcome, ServiceId, ServiceView, Source
from healer.core.reconcile import dependency_view
from healer.engine.context import Healer

log = logging.getLogger("healer.boot")


@dataclass(frozen=True)
class BootResult:
    project: str
    outcome: str  # boot | busy | incomplete
    detail: str
    seconds: float = 0.0


@dataclass
class _Run:
    """One recovery in flight: its locks, its memory and what it observed last."""

    h: Healer
    project: str
    store: BootStore
    locks: list[Lock] = field(default_factory=list)
    views: dict[ServiceId, ServiceView] = field(default_factory=dict)
    intended: dict[ContainerId, ServiceId] = field(default_factory=dict)
    progress: Progress | None = None
    waiting: Mapping[ServiceId, Blocked] = field(default_factory=dict)
    waits: dict[ServiceId, list[Blocked]] = field(default_factory=dict)

    def extend(self) -> None:
        """Keep the locks and the project's `booting` flag while the recovery lives; if its
        worker dies, both lapse within a lock lifetime and the reconcile takes over."""
        for lock in self.locks:
            lock.extend()
        self.store.mark_booting(self.project, self.h.settings.lock_ttl + 60)


def recover(
    h: Healer, project: str, reason: str, sleep: Callable[[float], None] = time.sleep
) -> BootResult:
    store = h.stores.boot
    guard_lock = store.project_lock(project, h.settings.lock_ttl)
    if not guard_lock.acquire():
        # The engine restarted again while a recovery ran: this one follows it.
        return BootResult(project, "busy", "a recovery of this project is already running")
    run = _Run(h, project, store, [guard_lock])
    try:
        return _recover(run, reason, sleep)
    except EngineError as exc:
        # The engine went away again mid-recovery: the watcher finds that restart too and
        # sends a new recovery; this one ends on the record.
        detail = f"engine error: {exc}"
        h.history.record(
            Record(project, Outcome.INCOMPLETE, reason=reason, detail=detail, source=Source.BOOT)
        )
        return BootResult(project, Outcome.INCOMPLETE.value, detail)
    finally:
        for lock in reversed(run.locks):
            lock.release()
        store.finish(project, run.views)
        store.running(project, False)


def _recover(run: _Run, reason: str, sleep: Callable[[float], None]) -> BootResult:
    h, s = run.h, run.h.settings
    run.store.mark_booting(run.project, s.boot_deadline + 60)
    run.store.running(run.project, True)
    run.views = h.engine.services(project=run.project)
    run.intended = run.store.meant_to_run(run.project)
    _lock_services(run, sleep)
    t0 = h.clock()
    graph = dependency_view(run.views).graph
    intended_sids = set(run.intended.values()) & set(run.views)
    run.progress = Progress(t0=t0, targets=boot_targets(graph, intended_sids) & set(run.views))
    rules = _rules(run)
    while True:
        states = _observe(run)
        graph = dependency_view(run.views).graph
        result = step(graph, states, rules, run.progress, h.clock(), run.waiting)
        _apply(run, result)
        elapsed = h.clock() - t0
        if result.done or elapsed >= s.boot_deadline:
            return _finish(run, reason, result, elapsed)
        _status(run, reason, result, "running")
        run.extend()
        sleep(s.boot_poll_interval)


def _lock_services(run: _Run, sleep: Callable[[float], None]) -> None:
    """Take every service's repair lock, waiting out repairs already in flight (each ends
    within a lock lifetime); a service still locked after that is recovered without it."""
    deadline = run.h.clock() + run.h.settings.lock_ttl
    pending = list(run.views)
    while pending:
        for sid in list(pending):
            lock = run.h.guard.action_lock(sid, run.h.settings.lock_ttl)
            if lock.acquire():
                run.locks.append(lock)
                pending.remove(sid)
        if not pending or run.h.clock() >= deadline:
            break
        run.extend()
        sleep(0.2)
    for sid in pending:
        log.warning(
            "%s: repair lock still held after %.0fs; recovering anyway",
            sid,
            run.h.settings.lock_ttl,
        )


def _rules(run: _Run) -> dict[ServiceId, BootRules]:
    out: dict[ServiceId, BootRules] = {}
    for sid, view in run.views.items():
        labels = parse_service_labels(view.labels)
        # The healer's own roles are never stopped by a recovery: one of them runs it.
        own = "healer.role" in view.labels
        paused = run.h.flags.is_paused(sid)
        hands_off = labels.opted_out or paused or own
        out[sid] = boot_rules(view.labels, run.h.settings.boot_timeout, hands_off)
        for problem in out[sid].problems:
            run.h.history.record_skip_once(
                Record(sid, Outcome.INFO, reason="bad label", detail=problem, source=Source.BOOT)
            )
    return out


def _observe(run: _Run) -> dict[ServiceId, ServiceState]:
    """Inspect every container: the list call's health and times are too coarse to order by."""
    run.views = run.h.engine.services(project=run.project)
    states: dict[ServiceId, ServiceState] = {}
    for sid, view in run.views.items():
        infos: list[ContainerState] = []
        for c in view.containers:
            try:
                infos.append(run.h.engine.inspect(c.id))
            except ContainerGone:
                continue
        if infos:
            states[sid] = service_state(sid, infos)
    return states


def _containers(run: _Run, sid: ServiceId, running: bool) -> list[ContainerId]:
    """The service's containers to act on: those meant to run (all of a one-shot's)."""
    view = run.views.get(sid)
    if view is None:
        return []
    mine = [c for c in view.containers if (c.state == "running") == running]
    meant = [c for c in mine if c.id in run.intended]
    return [c.id for c in (meant or mine)]


def _apply(run: _Run, result: Step) -> None:
    assert run.progress is not None
    for sid in result.stop:
        blocked = result.waiting.get(sid)
        _act(run, sid, "stop", _containers(run, sid, running=True), blocked)
    for sid in result.start:
        _act(
            run, sid, "start", _containers(run, sid, running=False), run.progress.timed_out.get(sid)
        )
    for blocked in result.timeouts:
        _timed_out(run, blocked, result)
    for sid, blocked in result.waiting.items():
        seen = run.waits.setdefault(sid, [])
        if not seen or seen[-1] != blocked:
            seen.append(blocked)
    run.waiting = result.waiting
    run.progress = result.progress


def _act(
    run: _Run, sid: ServiceId, verb: str, cids: list[ContainerId], blocked: Blocked | None
) -> None:
    h = run.h
    h.state.mark_acting(cids, h.settings.lock_ttl)
    errors: list[str] = []
    for cid in cids:
        try:
            if verb == "stop":
                h.engine.stop(cid, _stop_timeout(h, cid))
            else:
                h.engine.start(cid)
        except EngineError as exc:
            errors.append(f"{cid[:12]}: {exc}")
    if verb == "start":
        h.state.clear_acting(cids)
    # After a stop, `acting` stays until it expires: the watcher must not take that stop for
    # a hand stop, and the container stays down until the recovery starts it (and clears it).
    why = (
        f"waits for {blocked.blocker} ({blocked.condition})"
        if blocked
        else "its dependencies are ready"
    )
    log.info("%s: %s (%s)%s", sid, verb, why, f"; errors: {errors}" if errors else "")
    if errors:
        h.history.record(
            Record(
                sid=sid,
                outcome=Outcome.FAILED,
                action=verb,
                reason="boot",
                detail="; ".join(errors),
                source=Source.BOOT,
            )
        )


def _stop_timeout(h: Healer, cid: ContainerId) -> int:
    """HEALER_STOP_TIMEOUT, else the container's stop_grace_period, else Docker's 10 s."""
    if h.settings.stop_timeout is not None:
        return h.settings.stop_timeout
    configured = h.engine.inspect(cid).stop_timeout
    return configured if configured is not None else 10


def _timed_out(run: _Run, blocked: Blocked, result: Step) -> None:
    h = run.h
    assert run.progress is not None
    anyway = blocked.sid in result.start
    detail = (
        f"{blocked.sid} waited {h.clock() - run.progress.t0:.0f}s for {blocked.blocker} "
        f"({blocked.condition}); "
        + ("started anyway (healer.boot.start_anyway)" if anyway else "left down")
    )
    failed = run.progress.failed.get(blocked.blocker)
    if failed:
        detail += f"; {blocked.blocker} {failed}"
    h.history.record(
        Record(
            sid=blocked.sid,
            outcome=Outcome.BOOT_TIMEOUT,
            condition=blocked.condition,
            action="start" if anyway else "",
            reason=f"blocked by {blocked.blocker}",
            detail=detail,
            source=Source.BOOT,
            extra={"blocker": blocked.blocker, "started_anyway": str(anyway).lower()},
        )
    )
    run.store.timeout(run.project, blocked.sid, blocked.blocker)
    h.notifier.send(
        "warning",
        f"{blocked.sid}: dependency {blocked.blocker} not ready after an engine restart",
        detail,
        {"service": blocked.sid, "blocker": blocked.blocker},
    )


def _status(run: _Run, reason: str, result: Step, state: str) -> None:
    assert run.progress is not None
    record = status_record(run.project, reason, state, result, run.progress, run.h.clock())
    running = run.h.settings.boot_deadline + 60 if state == "running" else None
    run.store.write_status(run.project, record, running)


def _finish(run: _Run, reason: str, result: Step, elapsed: float) -> BootResult:
    assert run.progress is not None
    outcome = Outcome.BOOT if result.done else Outcome.INCOMPLETE
    _status(run, reason, result, "done" if result.done else "incomplete")
    text, extra = summary(run.progress, run.waits, elapsed, result)
    run.h.history.record(
        Record(
            sid=run.project,
            outcome=outcome,
            reason=reason,
            detail=text,
            source=Source.BOOT,
            extra=extra,
        )
    )
    run.store.duration(run.project, elapsed)
    if not result.done:
        run.h.notifier.send(
            "warning",
            f"ordered recovery of {run.project} gave up after {elapsed:.0f}s",
            text,
            {"service": run.project},
        )
    log.info("%s: %s after %.1fs: %s", run.project, outcome, elapsed, text)
    return BootResult(run.project, outcome.value, text, round(elapsed, 3))
