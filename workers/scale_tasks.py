"""Celery tasks of the autoscaler: the periodic cycle and an operator's scale request."""

from __future__ import annotations

import socket
from dataclasses import asdict
from typing import Any

import redis

from healer.adapters.queue import SCALE_CYCLE, SCALE_SERVICE, SCALE_TRIGGERED
from healer.adapters.scale_queue_depth import CeleryQueues
from healer.core.model import Outcome, ServiceId, Source
from healer.engine.scale_cycle import ScaleError, ScalerOptions, scale_cycle, scale_to
from workers.app import app, settings
from workers.tasks import healer


def _queues() -> CeleryQueues:
    # The worker's own app: same broker, same transport options as the tasks it measures.
    return healer().stores.celery_queues(app)


@app.task(
    name=SCALE_CYCLE,
    ignore_result=True,
    autoretry_for=(redis.ConnectionError,),
    retry_backoff=True,
    max_retries=3,
)
def scale_cycle_task() -> dict[str, Any]:
    h = healer()
    result = scale_cycle(
        h,
        queues=_queues(),
        options=ScalerOptions.from_settings(settings),
        self_host=socket.gethostname(),
    )
    return asdict(result)


@app.task(
    name=SCALE_TRIGGERED,
    ignore_result=True,
    autoretry_for=(redis.ConnectionError,),
    retry_backoff=True,
    max_retries=3,
    # A cycle later than one interval is superseded by the scheduled one.
    expires=settings.scaler_interval,
)
def scale_triggered_task(sid: str) -> dict[str, Any]:
    """A scale cycle of one service whose queue crossed its target between cycles."""
    h = healer()
    result = scale_cycle(
        h,
        queues=_queues(),
        options=ScalerOptions.from_settings(settings),
        self_host=socket.gethostname(),
        only=ServiceId(sid),
    )
    return asdict(result)


@app.task(name=SCALE_SERVICE, autoretry_for=(redis.ConnectionError,), retry_backoff=True)
def scale_service_task(
    sid: str, replicas: int, force: bool = False, source: str = "api"
) -> dict[str, Any]:
    if int(replicas) < 0:
        # An alert asks for "more": one replica above what runs now.
        view = healer().engine.services(ServiceId(sid)).get(ServiceId(sid))
        replicas = (len(view.containers) if view else 0) + 1
    try:
        result = scale_to(
            healer(),
            ServiceId(sid),
            int(replicas),
            bool(force),
            source=Source(source),
            queues=_queues(),
            options=ScalerOptions.from_settings(settings),
            self_host=socket.gethostname(),
        )
    except ScaleError as exc:
        # A refusal is an answer, not a failure to retry: return it for the caller to show.
        return {"sid": sid, "outcome": Outcome.REFUSED, "reason": str(exc)}
    return asdict(result)
