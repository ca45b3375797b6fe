"""The operator's `healer scale SERVICE N` and what an alert's scale_up / scale_down may do."""

from __future__ import annotations

from healer.core.labels import parse_service_labels
from healer.core.model import Outcome, ServiceId, ServiceView, Source
from healer.core.scaling.labels import ScaleConfig
from healer.core.selection.selector import is_plain
from healer.engine.context import Healer
from healer.engine.scaling.apply import (
    QueueSource,
    ScaleIntent,
    ScalerOptions,
    ServiceResult,
    carry_out,
)
from healer.engine.scaling.setup import config as _config
from healer.engine.scaling.setup import context as _context
from healer.engine.scaling.setup import replicas as _replicas
from healer.errors import Conflict


class ScaleError(Conflict):
    """A scale request that cannot be carried out; the message says what to do instead."""


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
    if is_plain(sid):
        raise ScaleError(
            f"{sid} is a container started without compose: it has no service to scale "
            "(run it as a compose service to scale it)"
        )
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
    sc = _context(h, queues, options, self_host)
    current = _replicas(view, sc.store.parked(sid))
    if replicas == current:
        return ServiceResult(sid, Outcome.HELD, current, replicas, f"already {current} replicas")
    reason = f"requested via {source}" + (" (forced past min/max)" if force else "")
    intent = ScaleIntent(sid, cfg, current, replicas, reason, source=source)
    result = carry_out(sc, intent, wait=sc.options.lock_wait)
    if result.outcome == Outcome.SKIPPED and result.reason == "blocked":
        raise ScaleError(f"{sid} cannot be scaled: {result.detail}")
    if result.outcome == Outcome.SKIPPED:
        raise ScaleError(f"{sid}: a repair or scale of this service is in flight; retry shortly")
    return result


def alert_scale_refusal(h: Healer, view: ServiceView | None, *, down: bool = False) -> str:
    """Why an alert's `scale_up` (`scale_down`) must not act on this service, or "" when it
    may: only a service that opted in to autoscaling (healer.scale.* labels) gets replicas
    from an alert, within its own bounds; an alert cannot know a service is safe to clone.
    Taking capacity away needs its own opt-in, healer.scale.alert_down=true."""
    if view is None:
        return "no container of this service exists"
    cfg = _config(h, view)
    if not cfg.enabled:
        return (
            f"{view.sid} has no autoscaling labels (healer.scale.metric or healer.scale.max): "
            "an alert only scales services that opted in"
        )
    running = sum(1 for c in view.containers if c.state == "running")
    if down:
        if view.labels.get("healer.scale.alert_down", "").strip().lower() != "true":
            return f"{view.sid} has no healer.scale.alert_down=true: alerts may not scale it down"
        if running <= cfg.spec.min_replicas:
            return f"{view.sid} already runs its minimum of {cfg.spec.min_replicas} replicas"
        return ""
    if len(view.containers) >= cfg.spec.max_replicas:
        return f"{view.sid} already runs its maximum of {cfg.spec.max_replicas} replicas"
    return ""


def _check_request(view: ServiceView, cfg: ScaleConfig, n: int, force: bool) -> None:
    lo, hi = cfg.spec.min_replicas, cfg.spec.max_replicas
    if n < 0:
        raise ScaleError(f"{n} replicas: a replica count is 0 or more")
    if n == 0 and cfg.spec.min_replicas != 0:
        raise ScaleError(
            f"{view.sid} does not scale to zero: set healer.scale.min=0 with a queue or "
            "prometheus metric (what wakes it), or `docker compose stop` it"
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
