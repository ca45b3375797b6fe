"""Autoscaling: observe each autoscaled service → `scale_policy.decide` (pure) → apply (see
scale_apply) → record. Also `scale_to`, the operator's `healer scale SERVICE N`.

Every autoscaling module is named `scale_*`, one per layer concern, in reading order:
  core/scaling/labels.py        labels → ScaleConfig (bad values reported, defaults kept)
  core/scaling/policy.py        decide(): HPA-style target, tolerance, rate limit, stabilisation
  core/scaling/trigger.py       between cycles: has a queue's backlog crossed its target?
  adapters/scaling/metrics.py   cpu/memory of a service (the probe's cgroup sampler)
  adapters/scaling/queue_depth.py  Celery backlog + in-flight tasks; worker drain
  engine/scaling/cycle.py       this module: the cycle and `scale_to`
  engine/scaling/apply.py       under the service's lock: add or drain-and-remove replicas
  adapters/docker/replicas.py  clone/start/stop/remove containers (core/container_spec.py
                              builds the create body)
  adapters/scaling/state.py     recommendation history, last scale time, scale-ups, status,
                              watches for the trigger, scale events
  adapters/scaling/trigger.py   the between-cycles check beat runs every tick
  workers/scale_tasks.py      the Celery tasks healer.scale.cycle / .service / .triggered
docs/architecture.md ("Autoscaling") tells the same story in prose.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from healer.adapters.docker.replicas import ScaleBlocked
from healer.adapters.queue import make_celery
from healer.adapters.store.history import Record
from healer.core.labels import parse_service_labels
from healer.core.model import ContainerView, HostId, Outcome, ServiceId, ServiceView, Source
from healer.core.queues import QUEUES, host_queue
from healer.core.scaling.labels import ScaleConfig, parse_scale_labels
from healer.core.scaling.policy import Metric, Observation, ScaleDecision, ceiling_load, decide
from healer.core.scaling.trigger import Watch
from healer.engine.context import Healer
from healer.engine.scaling.apply import (
    QueueSource,
    ScaleContext,
    ScaleIntent,
    ScalerOptions,
    ServiceResult,
    change,
    record_scale,
)

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
]

MetricSource = Callable[[Metric, Sequence[ContainerView]], float | None]
"""cpu/memory: mean utilisation (fraction of the limit) over the service's running
containers, or None when it could not be measured."""

_PARALLEL_SERVICES = 4  # scale actions applied at once; a drain can take minutes


class ScaleError(Exception):
    """A scale request that cannot be carried out; the message says what to do instead."""


@dataclass(frozen=True)
class CycleResult:
    services: tuple[ServiceResult, ...] = ()


@dataclass(frozen=True)
class _Plan:
    view: ServiceView
    cfg: ScaleConfig
    decision: ScaleDecision
    facts: dict[str, Any]
    warnings: tuple[str, ...]


def with_host_queues(queues: Sequence[str], host: HostId) -> tuple[str, ...]:
    """A healer queue named in `healer.scale.queues` (healer.probe, …) counts this host's own
    queue of that kind too: the healer's worker service is scaled by the work of its host."""
    out = list(queues)
    out += [host_queue(q, host) for q in queues if q in QUEUES and host_queue(q, host) not in out]
    return tuple(out)


def _context(
    h: Healer,
    queues: QueueSource | None,
    options: ScalerOptions | None,
    self_host: str | None,
) -> ScaleContext:
    return ScaleContext(
        h,
        queues if queues is not None else h.stores.celery_queues(make_celery(h.settings)),
        options or ScalerOptions.from_settings(h.settings),
        self_host or socket.gethostname(),
    )


def _config(h: Healer, view: ServiceView) -> ScaleConfig:
    s = h.settings
    return parse_scale_labels(
        view.labels,
        min_replicas=s.min_replicas,
        max_replicas=s.max_replicas,
        cap=s.max_replicas_cap,
    )


# --- the cycle -----------------------------------------------------------------------------


def scale_cycle(
    h: Healer,
    now: float | None = None,
    *,
    metric_source: MetricSource | None = None,
    queues: QueueSource | None = None,
    options: ScalerOptions | None = None,
    self_host: str | None = None,
    only: ServiceId | None = None,
) -> CycleResult:
    """One autoscaler pass over every managed service (or `only` that one, when the trigger
    asked for it); `now` is the decision clock."""
    sc = _context(h, queues, options, self_host)
    source = metric_source or h.scale_metrics
    at = h.clock() if now is None else now
    plans: list[_Plan] = []
    held: list[ServiceResult] = []
    for view in h.engine.services(only).values():
        cfg = _config(h, view)
        if not cfg.enabled:
            continue
        skipped = _skip_reason(h, view)
        if skipped:
            held.append(_record_skip(sc, view, skipped))
            continue
        plans.append(_plan(sc, source, view, cfg, at))
    results = held + _apply_all(sc, plans, at)
    interval = sc.options.interval
    watches = {p.view.sid: w for p in plans if (w := _watch(p)) is not None}
    if only is None:
        sc.store.write_status({p.view.sid: _status(p, at) for p in plans}, interval)
    for p in plans if only is not None else ():
        sc.store.update_status(p.view.sid, _status(p, at), interval)
    sc.store.write_watches(watches, interval, whole=only is None)
    return CycleResult(tuple(results))


def _watch(p: _Plan) -> Watch | None:
    """What the between-cycles trigger needs of a queue-scaled service."""
    spec = p.cfg.spec
    if spec.metric != "queue" or spec.target is None or not p.cfg.queues:
        return None
    replicas = p.decision.desired
    return Watch(p.view.sid, p.cfg.queues, spec.target, replicas, spec.max_replicas, spec.tolerance)


def _skip_reason(h: Healer, view: ServiceView) -> str:
    if parse_service_labels(view.labels).opted_out:
        return "opted_out"
    if h.flags.is_paused(view.sid):
        return "paused"
    return ""


def _record_skip(sc: ScaleContext, view: ServiceView, reason: str) -> ServiceResult:
    n = len(view.containers)
    rec = Record(sid=view.sid, outcome=Outcome.SKIPPED, condition="scale", reason=reason)
    sc.h.history.record_skip_once(rec)
    return ServiceResult(view.sid, Outcome.SKIPPED, n, n, reason)


def _plan(
    sc: ScaleContext, source: MetricSource, view: ServiceView, cfg: ScaleConfig, now: float
) -> _Plan:
    observation, facts, warnings = _observe(sc, source, view, cfg)
    history, last = sc.store.load(view.sid)
    ups = sc.store.scale_ups(view.sid, now)
    decision = decide(cfg.spec, observation, history, last, now, ups)
    sc.store.save_history(view.sid, decision.history, cfg.spec.stabilization_window_s)
    if cfg.problems:  # reported once per dedupe period, not every cycle
        detail = "; ".join(cfg.problems)
        rec = Record(view.sid, Outcome.INFO, condition="scale", reason="bad_label", detail=detail)
        sc.h.history.record_skip_once(rec)
    return _Plan(view, cfg, decision, facts, warnings)


def _observe(
    sc: ScaleContext, source: MetricSource, view: ServiceView, cfg: ScaleConfig
) -> tuple[Observation, dict[str, Any], tuple[str, ...]]:
    n = len(view.containers)
    metric = cfg.spec.metric
    if metric != "queue":
        try:
            value = source(metric, view.containers)
        except Exception as exc:  # a plugged-in collector must not stop the cycle
            return Observation(n, None), {metric: None}, (f"{metric} source failed: {exc}",)
        return Observation(n, value), {metric: value}, ()
    if not cfg.queues or sc.queues is None:
        return Observation(n, None), {"queues": {}}, ("no queues to measure",)
    depth = sc.queues.measure(with_host_queues(cfg.queues, sc.h.host), ceiling_load(cfg.spec))
    facts = {
        "backlog": depth.backlog,
        "reserved": depth.reserved if depth.inspected else None,
        "active": depth.active if depth.inspected else None,
        "queues": depth.per_queue,
    }
    return Observation(n, float(depth.backlog), depth.in_flight), facts, depth.warnings


def _apply_all(sc: ScaleContext, plans: Sequence[_Plan], now: float) -> list[ServiceResult]:
    changing = [p for p in plans if p.decision.changed]
    results = [_held(p) for p in plans if not p.decision.changed]
    if changing:
        with ThreadPoolExecutor(max_workers=min(_PARALLEL_SERVICES, len(changing))) as pool:
            results += list(pool.map(lambda p: _apply(sc, p, now), changing))
    return results


def _skip(sc: ScaleContext, p: _Plan, reason: str, detail: str) -> ServiceResult:
    rec = Record(p.view.sid, Outcome.SKIPPED, condition="scale", reason=reason, detail=detail)
    sc.h.history.record_skip_once(rec)
    d = p.decision
    return ServiceResult(p.view.sid, Outcome.SKIPPED, d.current, d.desired, reason, detail)


def _held(p: _Plan) -> ServiceResult:
    d = p.decision
    return ServiceResult(p.view.sid, Outcome.HELD, d.current, d.desired, d.reason)


def _apply(sc: ScaleContext, p: _Plan, now: float) -> ServiceResult:
    d = p.decision
    try:
        result = change(sc, p.view.sid, d.desired, p.cfg, wait=0)
    except ScaleBlocked as exc:
        # Every cycle would hit it again: one history entry per dedupe period, no alert storm.
        return _skip(sc, p, "blocked", str(exc))
    if result is None:
        return _skip(sc, p, "in_flight", "another repair or scale of the service holds its lock")
    facts = _facts_text(p.cfg.spec.metric, p.facts)
    intent = ScaleIntent(p.view.sid, p.cfg, d.current, d.desired, d.reason, facts)
    return record_scale(sc, intent, result, now)


def _facts_text(metric: Metric, facts: Mapping[str, Any]) -> str:
    if metric == "queue":
        backlog = f"backlog {facts.get('backlog')} (per queue {facts.get('queues')})"
        if facts.get("reserved") is None:
            return f"{backlog}, in flight not counted (the backlog alone asks for max replicas)"
        return f"{backlog}, reserved {facts.get('reserved')}, active {facts.get('active')}"
    value = facts.get(metric)
    return f"{metric} {value:.3f} of limit" if isinstance(value, float) else f"{metric} unknown"


def _status(p: _Plan, now: float) -> dict[str, Any]:
    d, spec = p.decision, p.cfg.spec
    return {
        "current": d.current,
        "desired": d.desired,
        "raw": d.raw,
        "metric": spec.metric,
        "facts": p.facts,
        "min": spec.min_replicas,
        "max": spec.max_replicas,
        "reason": d.reason,
        "warnings": list(p.warnings),
        "problems": list(p.cfg.problems),
        "at": now,
    }


# --- the operator's `healer scale SERVICE N` ------------------------------------------------


def scale_to(
    h: Healer,
    sid: ServiceId,
    replicas: int,
    force: bool = False,
    *,
    source: Source = Source.CLI,
    queues: QueueSource | None = None,
    options: ScalerOptions | None = None,
    self_host: str | None = None,
) -> ServiceResult:
    """Scale `sid` to `replicas` now. Respects the service's min/max unless `force`; raises
    ScaleError with what to do when it will not act."""
    view = h.engine.services(sid).get(sid)
    if view is None:
        raise ScaleError(f"{sid}: no container of this service exists (is the project up?)")
    cfg = _config(h, view)
    _check_request(view, cfg, replicas, force)
    if replicas > h.settings.max_replicas_cap:
        raise ScaleError(
            f"{replicas} replicas is above HEALER_MAX_REPLICAS_CAP "
            f"({h.settings.max_replicas_cap}), which not even --force passes"
        )
    current = len(view.containers)
    if replicas == current:
        return ServiceResult(sid, Outcome.HELD, current, replicas, f"already {current} replicas")
    sc = _context(h, queues, options, self_host)
    try:
        result = change(sc, sid, replicas, cfg, wait=sc.options.lock_wait)
    except ScaleBlocked as exc:
        raise ScaleError(f"{sid} cannot be scaled: {exc}") from exc
    if result is None:
        raise ScaleError(f"{sid}: a repair or scale of this service is in flight; retry shortly")
    reason = f"requested via {source}" + (" (forced past min/max)" if force else "")
    intent = ScaleIntent(sid, cfg, current, replicas, reason, source=source)
    return record_scale(sc, intent, result, h.clock())


def alert_scale_refusal(h: Healer, view: ServiceView | None) -> str:
    """Why an alert's `scale_up` must not act on this service, or "" when it may: only a
    service that opted in to autoscaling (healer.scale.* labels) gets replicas from an
    alert, within its own bounds; an alert cannot know a service is safe to clone."""
    if view is None:
        return "no container of this service exists"
    cfg = _config(h, view)
    if not cfg.enabled:
        return (
            f"{view.sid} has no autoscaling labels (healer.scale.metric or healer.scale.max): "
            "an alert only scales services that opted in"
        )
    if len(view.containers) >= cfg.spec.max_replicas:
        return f"{view.sid} already runs its maximum of {cfg.spec.max_replicas} replicas"
    return ""


def _check_request(view: ServiceView, cfg: ScaleConfig, n: int, force: bool) -> None:
    lo, hi = cfg.spec.min_replicas, cfg.spec.max_replicas
    if n < 1:
        raise ScaleError(
            "scale to zero is not supported: replicas are cloned from a running container; "
            "use `docker compose stop SERVICE` (and `healer pause SERVICE`) instead"
        )
    if parse_service_labels(view.labels).opted_out and not force:
        raise ScaleError(
            f"{view.sid} has auto_repair=false, so the healer never touches it; "
            "add --force to scale it anyway"
        )
    if not force and not lo <= n <= hi:
        raise ScaleError(
            f"{n} replicas is outside {view.sid}'s bounds {lo}-{hi} (labels healer.scale.min/"
            "max, else MIN_REPLICAS/MAX_REPLICAS); add --force to override"
        )
