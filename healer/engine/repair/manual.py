"""Operator-requested repairs (API, CLI, alerts): recorded first, then enqueued on the
service's host."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import redis

from healer.adapters.store.history import Record
from healer.core.hosts import ServiceRef
from healer.core.model import Condition, Outcome, RepairRequest, Source
from healer.engine.context import Healer
from healer.errors import Unavailable


class EnqueueFailed(Unavailable):
    """The broker refused the task: the request record is marked failed; answer 503."""

    public = "task broker unavailable"


def close_request(
    h: Healer, request_id: str, outcome: str, reason: str = "", detail: str = ""
) -> None:
    """End a request record with its outcome (acted|skipped|failed|…); a no-op without id."""
    if request_id:
        h.requests.close(request_id, outcome, reason, detail)


def send_or_fail(h: Healer, request_id: str, send: Callable[[], object]) -> None:
    """Enqueue with `send`; if the broker fails, close the record as failed and raise
    EnqueueFailed, so the caller answers 503 rather than leaving a `queued` record behind."""
    try:
        send()
    except Exception as exc:  # kombu raises OperationalError, redis-py its own, OSError…
        why = f"could not enqueue the task: {type(exc).__name__}: {exc}"
        # If Redis is down too, the record expires with REQUEST_TTL; the caller gets 503.
        with contextlib.suppress(redis.RedisError):
            close_request(h, request_id, Outcome.FAILED, "broker_unavailable", why)
        raise EnqueueFailed(f"task broker unavailable: {exc}") from exc
    # With Sentinel, a task the master took but no replica holds yet dies with the master:
    # the caller hears so (503) rather than a 202 that a failover could silently undo.
    if not h.requests.replicated(request_id):
        raise EnqueueFailed(
            f"request {request_id} is queued but no Redis replica confirmed it in time; a "
            f"Redis failover now could lose it. GET /requests/{request_id} tells whether it "
            "runs; sending it again is safe (one restart per episode)"
        )


def enqueue_manual(
    h: Healer, ref: ServiceRef, action: str, reason: str, source: Source, by: str = ""
) -> dict[str, Any]:
    """Record the request before enqueueing it, so an acknowledged request is never lost.
    `action` was checked by the caller (healer.engine.repair.actions.check). `by` names the API
    token that asked (`api:1a2b3c4d`), recorded with the request and in the history."""
    request_id = h.requests.open(
        ref.sid, action, source, host=ref.host, **({"by": by} if by else {})
    )
    req = RepairRequest(
        ref.sid,
        Condition.MANUAL,
        action,
        (),
        reason or f"requested via {source}",
        source,
        request_id,
        host=ref.host,
    )
    send_or_fail(h, request_id, lambda: h.dispatcher.repair(req))
    h.history.record(
        Record(
            sid=ref.sid,
            outcome=Outcome.REQUESTED,
            condition="manual",
            action=action,
            reason=reason,
            source=source,
            request_id=request_id,
            host=ref.host,
            extra={"by": by} if by else {},
        )
    )
    return {
        "request_id": request_id,
        "task_id": request_id,  # deprecated: the same id's old name, kept for one release
        "service": ref.sid,
        "host": ref.host,
        "id": ref.qualified,
        "action": action,
        "status": "queued",
    }
