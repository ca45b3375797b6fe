"""Operator-requested repairs (API, CLI, alerts): recorded first, then enqueued on the
service's host."""

from __future__ import annotations

import time
import uuid
from typing import Any

from healer.adapters import keys
from healer.adapters.history import Record
from healer.core.hosts import ServiceRef
from healer.core.model import Action, Condition, RepairRequest
from healer.engine.context import Healer


def open_request(h: Healer, ref: ServiceRef, action: str, source: str, **extra: str) -> str:
    """The request record (`GET /requests/{id}`, `healer repair --wait`), written before the
    task is queued so an acknowledged request always ends in a recorded outcome."""
    request_id = uuid.uuid4().hex
    key = keys.request(request_id)
    pipe = h.redis.pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={
            "status": "queued",
            "service": ref.sid,
            "host": ref.host,
            "action": action,
            "source": source,
            "queued_at": repr(time.time()),
            **extra,
        },
    )
    pipe.expire(key, keys.REQUEST_TTL)
    pipe.execute()
    return request_id


def enqueue_manual(
    h: Healer, ref: ServiceRef, action: Action, reason: str, source: str
) -> dict[str, Any]:
    """Record the request before enqueueing it, so an acknowledged request is never lost."""
    request_id = open_request(h, ref, action.value, source)
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
    h.dispatcher.repair(req)
    h.history.record(
        Record(
            sid=ref.sid,
            outcome="requested",
            condition="manual",
            action=action.value,
            reason=reason,
            source=source,
            request_id=request_id,
            host=ref.host,
        )
    )
    return {
        "task_id": request_id,
        "service": ref.sid,
        "host": ref.host,
        "id": ref.qualified,
        "action": action.value,
        "status": "queued",
    }
