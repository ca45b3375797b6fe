"""Autoscaling, one pipeline per service: read its state once (`read_state`: labels, every
metric, the scaler's memory) → decide, pure (`plan`: `scale_policy.decide_readings`) → carry
out and record in one place (`scale_apply.carry_out`). Also `scale_to`, the operator's
`healer scale SERVICE N`.

The autoscaling modules, one per layer concern, in reading order:
  core/scaling/labels.py        labels → ScaleConfig (bad values reported, defaults kept)
  core/scaling/metric_labels.py, behavior_labels.py   several metrics; HPA's behavior labels
  core/scaling/policy.py        decide(): HPA-style target, tolerance, stabilisation, zero
  core/scaling/rate.py        HPA's scaling policies (pods/percent per period, selectPolicy)
  core/scaling/trigger.py       between cycles: has a queue's backlog crossed its target?
  engine/scaling/readings.py  every metric from its source → Readings
  adapters/scaling/metrics.py   cpu/memory of a service (the probe's cgroup sampler)
  adapters/scaling/queue_depth.py  Celery backlog + in-flight tasks; worker drain
  adapters/scaling/brokers.py    the same on an application's own Redis or RabbitMQ
  adapters/scaling/prometheus.py one PromQL query → one number
  engine/scaling/cycle.py       this module: the cycle and `scale_to`
  engine/scaling/apply.py       under the service's lock: add, drain-and-remove, record
  engine/scaling/zero.py      park the last replica at zero; wake it
  adapters/docker/replicas.py  clone/start/stop/remove containers (adapters/docker/container_spec.py
                              builds the create body)
  adapters/scaling/state.py     recommendation history, last scale time, own changes, status,
                              watches for the trigger, parked services, scale events
  adapters/scaling/trigger.py   the between-cycles check beat runs every tick
  workers/scale_tasks.py      the Celery tasks healer.scale.cycle / .service / .triggered
docs/architecture.md ("Autoscaling") tells the same story in prose.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from healer.adapters.scaling.prometheus import Prometheus
from healer.adapters.store.history import Record
from healer.core.labels import parse_service_labels
from healer.core.model import Outcome, ServiceId, ServiceView
from healer.core.scaling.labels import ScaleConfig
from healer.core.scaling.policy import History, ScaleDecision, ScaleUps, decide_readings
from healer.core.scaling.trigger import Watch
from healer.core.selection.selector import is_plain
from healer.engine.context import Healer
from healer.engine.scaling.apply import (
    QueueSource,
    ScaleContext,
    ScaleIntent,
    ScalerOptions,
    ServiceResult,
    carry_out,
)
from healer.engine.scaling.operator import ScaleError, alert_scale_refusal, scale_to
from healer.engine.scaling.readings import (
    Measured,
    MetricSource,
    Query,
    Sensors,
    measure,
    with_host_queues,
)
from healer.engine.scaling.setup import config as _config
from healer.engine.scaling.setup import context as _context
from healer.engine.scaling.setup import replicas as _replicas

__all__ = [
    "CycleResult",
    "MetricSource",
    "QueueSource",
    "ScaleError",
    "ScalerOptions",
    "ServiceResult",
    "alert_scale_refusal",
    "scale_cycle",
    "scale_to",
    "with_host_queues",
]

_PARALLEL_SERVICES = 4  # scale actions applied at once; a drain can take minutes


@dataclass(frozen=True)
class CycleResult:
    services: tuple[ServiceResult, ...] = ()


@dataclass(frozen=True)
class ServiceState:
    """Everything one decision needs, read once: the service, its labels, every metric, the
    scaler's memory (history, last scale, its own recent changes) and whether it is at zero."""

    view: ServiceView
    cfg: ScaleConfig
    replicas: int
    measured: Measured
    history: History
    last_scale_at: float | None
    changes: ScaleUps
    parked: bool


@dataclass(frozen=True)
class _Plan:
    state: ServiceState
    decision: ScaleDecision

    @property
    def sid(self) -> ServiceId:
        return self.state.view.sid


# --- the cycle: read every state → decide (pure) → carry out and record --------------------


def scale_cycle(
    h: Healer,
    now: float | None = None,
    *,
    metric_source: MetricSource | None = None,
    queues: QueueSource | None = None,
    options: ScalerOptions | None = None,
    self_host: str | None = None,
    only: ServiceId | None = None,
    prometheus: Query | None = None,
) -> CycleResult:
    """One autoscaler pass over every managed service (or `only` that one, when the trigger
    asked for it); `now` is the decision clock."""
    sc = _context(h, queues, options, self_host)
    at = h.clock() if now is None else now
    sensors = Sensors(
        metric_source or h.scale_metrics,
        sc.queues,
        sc.brokers,
        prometheus if prometheus is not None else Prometheus.from_settings(h.settings),
        h.host,
    )
    states: list[ServiceState] = []
    held: list[ServiceResult] = []
    for view in h.engine.services(only).values():
        cfg = _config(h, view)
        if not cfg.enabled or is_plain(view.sid):  # no compose service to scale
            continue
        skipped = _skip_reason(sc, view)
        if skipped:
            held.append(_record_skip(sc, view, skipped))
            continue
        states.append(read_state(sc, sensors, view, cfg, at))
    plans = [plan(state, at) for state in states]
    results = held + _conclude_all(sc, plans, at)
    _publish(sc, plans, at, only)
    return CycleResult(tuple(results))


def read_state(
    sc: ScaleContext, sensors: Sensors, view: ServiceView, cfg: ScaleConfig, now: float
) -> ServiceState:
    parked = sc.store.parked(view.sid)
    replicas = _replicas(view, parked)
    measured = measure(sensors, view.containers, cfg, replicas)
    history, last = sc.store.load(view.sid)
    changes = sc.store.scale_ups(view.sid, now)
    return ServiceState(view, cfg, replicas, measured, history, last, changes, parked)


def plan(state: ServiceState, now: float) -> _Plan:
    """The pure step: every metric recommends, the largest wins, HPA's behaviour applies."""
    s = state
    decision = decide_readings(
        s.cfg.spec, s.measured.readings, s.history, s.last_scale_at, now, s.changes
    )
    return _Plan(state, decision)


def _skip_reason(sc: ScaleContext, view: ServiceView) -> str:
    if parse_service_labels(view.labels).opted_out:
        return "opted_out"
    # A service the scaler parked at zero is paused by the scaler itself; it still scales.
    if sc.h.flags.is_paused(view.sid) and not sc.store.parked(view.sid):
        return "paused"
    return ""


def _record_skip(sc: ScaleContext, view: ServiceView, reason: str) -> ServiceResult:
    n = len(view.containers)
    rec = Record(sid=view.sid, outcome=Outcome.SKIPPED, condition="scale", reason=reason)
    sc.h.history.record_skip_once(rec)
    return ServiceResult(view.sid, Outcome.SKIPPED, n, n, reason)


def _conclude_all(sc: ScaleContext, plans: Sequence[_Plan], now: float) -> list[ServiceResult]:
    for p in plans:
        _remember(sc, p)
    changing = [p for p in plans if p.decision.changed]
    results = [_held(p) for p in plans if not p.decision.changed]
    if changing:
        with ThreadPoolExecutor(max_workers=min(_PARALLEL_SERVICES, len(changing))) as pool:
            results += list(pool.map(lambda p: carry_out(sc, _intent(p), 0, now), changing))
    return results


def _remember(sc: ScaleContext, p: _Plan) -> None:
    """The decision's history, and label problems once per dedupe period."""
    cfg = p.state.cfg
    sc.store.save_history(p.sid, p.decision.history, cfg.spec.stabilization_window_s)
    if cfg.problems:
        detail = "; ".join(cfg.problems)
        rec = Record(p.sid, Outcome.INFO, condition="scale", reason="bad_label", detail=detail)
        sc.h.history.record_skip_once(rec)
    missing = [r.metric for r in p.state.measured.readings if r.observation.usable_value is None]
    if missing and p.state.measured.warnings:
        # A metric that cannot be read holds the count (never down): say why, once a period.
        detail = f"{', '.join(missing)} missing: " + "; ".join(p.state.measured.warnings)
        why = Record(p.sid, Outcome.INFO, condition="scale", reason="metric_missing", detail=detail)
        sc.h.history.record_skip_once(why)


def _intent(p: _Plan) -> ScaleIntent:
    d, facts = p.decision, _facts_text(p.state.measured)
    return ScaleIntent(
        p.sid, p.state.cfg, d.current, d.desired, d.reason, facts, decided_by=d.decided_by
    )


def _held(p: _Plan) -> ServiceResult:
    d = p.decision
    detail = "; ".join(p.state.measured.warnings)
    return ServiceResult(p.sid, Outcome.HELD, d.current, d.desired, d.reason, detail)


def _facts_text(m: Measured) -> str:
    parts = []
    facts = m.facts
    if "backlog" in facts:
        backlog = f"backlog {facts.get('backlog')} (per queue {facts.get('queues')})"
        if facts.get("reserved") is None:
            backlog += ", in flight not counted (the backlog alone asks for max replicas)"
        else:
            backlog += f", reserved {facts.get('reserved')}, active {facts.get('active')}"
        parts.append(backlog)
    for metric in ("cpu", "memory"):
        if metric in facts:
            value = facts[metric]
            shown = f"{value:.3f} of limit" if isinstance(value, float) else "unknown"
            parts.append(f"{metric} {shown}")
    if "prometheus" in facts:
        parts.append(f"prometheus {facts['prometheus']}")
    return "; ".join(parts + list(m.warnings))


def _publish(sc: ScaleContext, plans: Sequence[_Plan], now: float, only: ServiceId | None) -> None:
    interval = sc.options.interval
    watches = {p.sid: w for p in plans if (w := _watch(p)) is not None}
    if only is None:
        sc.store.write_status({p.sid: _status(p, now) for p in plans}, interval)
    for p in plans if only is not None else ():
        sc.store.update_status(p.sid, _status(p, now), interval)
    sc.store.write_watches(watches, interval, whole=only is None)


def _watch(p: _Plan) -> Watch | None:
    """What the between-cycles trigger needs of a service scaled on the healer's own queues
    (an application's broker is only read by the cycle)."""
    spec, queue = p.state.cfg.spec, p.state.cfg.queue_metric
    if queue is None or queue.target is None or not queue.queues or queue.broker:
        return None
    replicas = p.decision.desired
    return Watch(p.sid, queue.queues, queue.target, replicas, spec.max_replicas, spec.tolerance)


def _status(p: _Plan, now: float) -> dict[str, Any]:
    d, spec, cfg = p.decision, p.state.cfg.spec, p.state.cfg
    return {
        "current": d.current,
        "desired": d.desired,
        "raw": d.raw,
        "metric": spec.metric,
        "metrics": [m.metric for m in cfg.metrics],
        "decided_by": d.decided_by,
        "at_zero": p.state.parked,
        "facts": p.state.measured.facts,
        "min": spec.min_replicas,
        "max": spec.max_replicas,
        "reason": d.reason,
        "warnings": list(p.state.measured.warnings),
        "problems": list(cfg.problems),
        "at": now,
    }
