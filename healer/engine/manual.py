"""Operator-requested repairs (API, CLI, alerts): recorded first, then enqueued."""

from __future__ import annotations

import time
import uuid
from typing import Any

from healer.adapters import keys
from healer.adapters.history import Record
from healer.core.model import Condition, RepairRequest, ServiceId
from healer.engine.context import Healer


def open_request(h: Healer, sid: ServiceId, action: str, source: str, **extra: str) -> str:
    """The request record (`GET /requests/{id}`, `healer repair --wait`), written before the
    task is queued so an acknowledged request always ends in a recorded outcome."""
    request_id = uuid.uuid4().hex
    key = keys.request(request_id)
    pipe = h.redis.pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={
            "status": "queued",
            "service": sid,
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
    h: Healer, sid: ServiceId, action: str, reason: str, source: str
) -> dict[str, Any]:
    """Record the request before enqueueing it, so an acknowledged request is never lost.
    `action` was checked by the caller (healer.engine.actions.check)."""
    request_id = open_request(h, sid, action, source)
    req = RepairRequest(
        sid, Condition.MANUAL, action, (), reason or f"requested via {source}", source, request_id
    )
    h.dispatcher.repair(req)
    h.history.record(
        Record(
            sid=sid,
            outcome="requested",
            condition="manual",
            action=action,
            reason=reason,
            source=source,
            request_id=request_id,
        )
    )
    return {"task_id": request_id, "service": sid, "action": action, "status": "queued"}
