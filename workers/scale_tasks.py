"""Celery tasks of the autoscaler: the periodic cycle and an operator's scale request."""

from __future__ import annotations

import socket
from dataclasses import asdict
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from healer.adapters.docker.engine import EngineError
from healer.adapters.queue import SCALE_CYCLE, SCALE_SERVICE, SCALE_TRIGGERED
from healer.adapters.scaling.queue_depth import CeleryQueues
from healer.adapters.store.history import Record
from healer.core.alerts import ALERT_ONE_FEWER
from healer.core.model import Outcome, ServiceId, Source
from healer.core.queues import SCALE_QUEUE
from healer.engine.context import Healer
from healer.engine.repair.manual import close_request
from healer.engine.scaling.cycle import (
    ScaleError,
    ScalerOptions,
    alert_scale_refusal,
    scale_cycle,
    scale_to,
)
from workers.app import RETRY_ON_REDIS_LOSS, app, settings
from workers.tasks import elsewhere, healer

NO_GRANT = (
    "a forced scale (past min/max) needs `healer scale --force` on a healer host; this request"
    " carried no grant for it (the API cannot force a scale)"
)


def _queues() -> CeleryQueues:
    # The worker's own app: same broker, same transport options as the tasks it measures.
    return healer().stores.celery_queues(app)


@app.task(
    bind=True,
    name=SCALE_CYCLE,
    ignore_result=True,
    **RETRY_ON_REDIS_LOSS,
    max_retries=3,
)
def scale_cycle_task(self: Task, host: str = "") -> dict[str, Any]:
    if (away := elsewhere(self, host, SCALE_QUEUE, {})) is not None:
        return away
    h = healer()
    result = scale_cycle(
        h,
        queues=_queues(),
        options=ScalerOptions.from_settings(settings),
        self_host=socket.gethostname(),
    )
    return asdict(result)


@app.task(
    bind=True,
    name=SCALE_TRIGGERED,
    ignore_result=True,
    **RETRY_ON_REDIS_LOSS,
    max_retries=3,
    # A cycle later than one interval is superseded by the scheduled one.
    expires=settings.scaler_interval,
)
def scale_triggered_task(self: Task, sid: str, host: str = "") -> dict[str, Any]:
    """A scale cycle of one service whose queue crossed its target between cycles; the
    service is `host`'s, and only that host's agent scales it."""
    if (away := elsewhere(self, host, SCALE_QUEUE, {"sid": sid})) is not None:
        return away
    h = healer()
    result = scale_cycle(
        h,
        queues=_queues(),
        options=ScalerOptions.from_settings(settings),
        self_host=socket.gethostname(),
        only=ServiceId(sid),
    )
    return asdict(result)


@app.task(bind=True, name=SCALE_SERVICE, **RETRY_ON_REDIS_LOSS)
def scale_service_task(
    self: Task,
    sid: str,
    replicas: int,
    force: bool = False,
    source: str = "api",
    request_id: str = "",
    host: str = "",
) -> dict[str, Any]:
    kwargs = {
        "sid": sid,
        "replicas": replicas,
        "force": force,
        "source": source,
        "request_id": request_id,
    }
    if (away := elsewhere(self, host, SCALE_QUEUE, kwargs)) is not None:
        return away
    h = healer()
    try:
        out = _scale(h, ServiceId(sid), int(replicas), bool(force), Source(source), request_id)
    except SoftTimeLimitExceeded:
        out = {"sid": sid, "outcome": Outcome.FAILED, "reason": "time_limit"}
    except EngineError as exc:
        out = {"sid": sid, "outcome": Outcome.FAILED, "reason": "engine_error", "detail": str(exc)}
    # Every acknowledged request ends in an outcome, a refusal included.
    outcome = {Outcome.SCALED: Outcome.ACTED, Outcome.HELD: Outcome.SKIPPED}.get(
        out["outcome"], out["outcome"]
    )
    if outcome == Outcome.REFUSED:
        outcome = Outcome.SKIPPED
    close_request(h, request_id, outcome, str(out.get("reason", "")), str(out.get("detail", "")))
    return out


def _scale(
    h: Healer, sid: ServiceId, replicas: int, force: bool, source: Source, request_id: str = ""
) -> dict[str, Any]:
    if force and not h.requests.take_force_grant(request_id):
        return _force_refused(h, sid)
    view = h.engine.services(sid).get(sid)
    down = replicas == ALERT_ONE_FEWER
    if source == Source.ALERT:
        refusal = alert_scale_refusal(h, view, down=down)
        if refusal:
            rec = Record(sid, Outcome.SKIPPED, "scale", reason="not_autoscaled", detail=refusal)
            h.history.record(rec)
            return {
                "sid": sid,
                "outcome": Outcome.REFUSED,
                "reason": "not_autoscaled",
                "detail": refusal,
            }
    if replicas < 0:
        # An alert asks for one replica more, or fewer, than runs now.
        running = sum(1 for c in view.containers if c.state == "running") if view else 0
        replicas = max(0, running - 1) if down else running + 1
    try:
        result = scale_to(
            h,
            sid,
            replicas,
            force,
            source=source,
            queues=_queues(),
            options=ScalerOptions.from_settings(settings),
            self_host=socket.gethostname(),
        )
    except ScaleError as exc:
        # A refusal is an answer, not a failure to retry: return it for the caller to show.
        return {"sid": sid, "outcome": Outcome.REFUSED, "reason": "refused", "detail": str(exc)}
    return asdict(result)


def _force_refused(h: Healer, sid: ServiceId) -> dict[str, Any]:
    """The message's `force` is not trusted: only the CLI, with Redis rights the API's user
    lacks, writes the grant (healer.adapters.store.acl). Refused, not downgraded: whoever
    asked learns that force was not theirs to use."""
    h.history.record(
        Record(sid, Outcome.SKIPPED, "scale", reason="force_not_granted", detail=NO_GRANT)
    )
    return {
        "sid": sid,
        "outcome": Outcome.REFUSED,
        "reason": "force_not_granted",
        "detail": NO_GRANT,
    }
