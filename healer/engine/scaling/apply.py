"""Bringing a service to N replicas, the one place a scale is applied and recorded: under its
action lock, re-read it from Docker, add replicas or drain and remove them (to zero: park the
last one, engine/scaling/zero.py), then record the outcome. Shared by the autoscaler cycle and
the operator's `healer scale`.

The lock is the repair lock (`Guard.action_lock`), deliberately: one action in flight per
service, so a repair never restarts a replica that is being drained or removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from healer.adapters.docker.engine import EngineError
from healer.adapters.docker.replicas import DrainGate, ReplicaChange, Replicas, ScaleBlocked
from healer.adapters.scaling.brokers import queue_source
from healer.adapters.scaling.queue_depth import QueueDepth
from healer.adapters.scaling.state import ScaleStore
from healer.adapters.store.guard import Lock
from healer.adapters.store.history import Record
from healer.core.container_state import ContainerState
from healer.core.model import ContainerId, Outcome, ServiceId, ServiceView, Source
from healer.core.scaling.labels import ROLE_LABEL, WORKER_ROLE, ScaleConfig
from healer.engine.context import Healer
from healer.engine.scaling.zero import merge, park, wake
from healer.settings import Settings

log = logging.getLogger("healer.scaler")


class QueueSource(Protocol):
    """Celery queue depth and worker drain (healer.adapters.scaling.queue_depth.CeleryQueues)."""

    def measure(self, queues: Sequence[str], enough: float = ...) -> QueueDepth: ...

    def drain(
        self, hosts: Mapping[str, str], queues: Sequence[str], timeout: float
    ) -> dict[str, str]: ...


@dataclass(frozen=True)
class ScalerOptions:
    interval: float = 60.0
    drain_timeout: float = 120.0
    start_timeout: float = 60.0
    lock_wait: float = 10.0  # how long `healer scale` waits for a repair in flight

    @classmethod
    def from_settings(cls, s: Settings) -> ScalerOptions:
        return cls(
            interval=s.scaler_interval,
            drain_timeout=s.scale_drain_timeout,
            start_timeout=s.scale_start_timeout,
        )

    @property
    def lock_ttl(self) -> float:
        # Longer than the slowest scale: drain, then stop grace periods, or start + health.
        return self.drain_timeout + self.start_timeout + 120


@dataclass(frozen=True)
class ServiceResult:
    sid: str
    outcome: Outcome  # HELD, SCALED, FAILED or SKIPPED
    current: int
    desired: int
    reason: str
    detail: str = ""


@dataclass
class ScaleContext:
    """The collaborators of one cycle or one `scale_to` call."""

    h: Healer
    queues: QueueSource | None
    options: ScalerOptions
    self_host: str
    brokers: Callable[[str], QueueSource] = queue_source  # the app's own broker, by label
    store: ScaleStore = field(init=False)
    replicas: Replicas = field(init=False)

    def __post_init__(self) -> None:
        self.store = self.h.stores.scale
        self.replicas = Replicas(self.h.engine, self.options.start_timeout)


def _acquire(lock: Lock, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while not lock.acquire():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


@dataclass(frozen=True)
class ScaleIntent:
    """One replica change asked for, by the autoscaler cycle or an operator: what
    `carry_out` applies and then writes down next to the change's result."""

    sid: ServiceId
    cfg: ScaleConfig
    current: int
    desired: int
    reason: str
    facts: str = ""  # the measurements behind it, for the history detail
    source: Source = Source.SCALER
    decided_by: str = ""  # the metric whose recommendation won


def carry_out(
    sc: ScaleContext, intent: ScaleIntent, wait: float, now: float | None = None
) -> ServiceResult:
    """The one place a scale happens: under the service's action lock, re-read it, resize,
    then record the outcome (or the reason it did not happen); `now` is the decision clock."""
    try:
        result = _change(sc, intent, wait)
    except ScaleBlocked as exc:
        # Every cycle would hit it again: one history entry per dedupe period, no alert storm.
        return _skipped(sc, intent, "blocked", str(exc))
    if result is None:
        why = "another repair or scale of the service holds its lock"
        return _skipped(sc, intent, "in_flight", why)
    return _record(sc, intent, result, sc.h.clock() if now is None else now)


def _change(sc: ScaleContext, intent: ScaleIntent, wait: float) -> ReplicaChange | None:
    lock = sc.h.guard.action_lock(intent.sid, sc.options.lock_ttl)
    if not _acquire(lock, wait):
        return None
    try:
        view = sc.h.engine.services(intent.sid).get(intent.sid)  # the plan may be stale
        if view is None:
            return ReplicaChange(errors=("no container of the service exists any more",))
        return _resize(sc, view, intent.desired, intent.cfg)
    except ScaleBlocked:
        raise  # a configuration problem, not a failed attempt: the caller reports it
    except EngineError as exc:
        return ReplicaChange(errors=(str(exc),))
    finally:
        lock.release()


def _resize(sc: ScaleContext, view: ServiceView, desired: int, cfg: ScaleConfig) -> ReplicaChange:
    if sc.store.parked(view.sid):
        return wake(sc, view, desired) if desired > 0 else ReplicaChange(notes=("at zero",))
    current = len(view.containers)
    if desired > current:
        return sc.replicas.add(view, desired - current)
    if desired == current:
        return ReplicaChange(notes=(f"already {current} replicas",))
    removed = _remove(sc, view, current - max(desired, 1), cfg)
    if desired > 0 or not removed.ok:
        return removed
    rest = sc.h.engine.services(view.sid).get(view.sid)
    return merge(removed, park(sc, rest, _gate(sc, cfg)) if rest else ReplicaChange())


def _remove(sc: ScaleContext, view: ServiceView, count: int, cfg: ScaleConfig) -> ReplicaChange:
    if count <= 0:
        return ReplicaChange()
    own_worker = view.labels.get(ROLE_LABEL, "").strip() == WORKER_ROLE
    return sc.replicas.remove(
        view,
        count,
        drain=_gate(sc, cfg),
        before_stop=lambda cid: sc.h.state.mark_acting([cid], sc.options.lock_ttl),
        # The healer's own worker must not drain the replica running this very task.
        keep_hosts=(sc.self_host,) if own_worker else (),
    )


def _gate(sc: ScaleContext, cfg: ScaleConfig) -> DrainGate | None:
    queue = cfg.queue_metric
    if cfg.drain != "celery" or queue is None:
        return None
    source = sc.brokers(queue.broker) if queue.broker else sc.queues
    if source is None:
        return None

    def gate(victims: Mapping[ContainerId, ContainerState]) -> Mapping[ContainerId, str]:
        hosts: dict[str, str] = {str(cid): c.hostname for cid, c in victims.items()}
        notes = source.drain(hosts, cfg.queues, sc.options.drain_timeout)
        return {ContainerId(k): v for k, v in notes.items()}

    return gate


def _skipped(sc: ScaleContext, i: ScaleIntent, reason: str, detail: str) -> ServiceResult:
    rec = Record(i.sid, Outcome.SKIPPED, condition="scale", reason=reason, detail=detail)
    sc.h.history.record_skip_once(rec)
    return ServiceResult(i.sid, Outcome.SKIPPED, i.current, i.desired, reason, detail)


def _record(
    sc: ScaleContext, intent: ScaleIntent, result: ReplicaChange, now: float
) -> ServiceResult:
    """The end of a scale: cooldown mark, rate-limit events, history, a notification on
    failure."""
    i = intent
    direction = "up" if result.delta > 0 or i.desired > i.current else "down"
    if result.delta:
        sc.store.mark_scaled(i.sid, direction, now)
        if i.source == Source.SCALER:  # its own changes rate-limit its next ones
            sc.store.record_scale_up(i.sid, result.delta, now)
    outcome = Outcome.SCALED if result.ok else Outcome.FAILED
    detail = "; ".join(x for x in (i.facts, result.describe()) if x)
    extra = {
        "from": str(i.current),
        "to": str(i.desired),
        "metric": i.decided_by or i.cfg.spec.metric,
    }
    sc.h.history.record(
        Record(
            sid=i.sid,
            outcome=outcome,
            condition="scale",
            action=f"scale_{direction}",
            reason=i.reason,
            detail=detail,
            source=i.source,
            extra=extra,
        )
    )
    if not result.ok:
        fields = {"service": i.sid, "action": f"scale_{direction}"}
        sc.h.notifier.send("warning", f"scaling {i.sid} failed", detail, fields)
    log.info("%s %s %d -> %d: %s", i.sid, outcome, i.current, i.desired, detail)
    return ServiceResult(i.sid, outcome, i.current, i.desired, i.reason, detail)
