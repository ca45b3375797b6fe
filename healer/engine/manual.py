"""Operator-requested repairs (API, CLI, alerts): recorded first, then enqueued."""

from __future__ import annotations

from typing import Any

from healer.adapters.history import Record
from healer.core.model import Action, Condition, Outcome, RepairRequest, ServiceId, Source
from healer.engine.context import Healer


def enqueue_manual(
    h: Healer, sid: ServiceId, action: Action, reason: str, source: Source
) -> dict[str, Any]:
    """Record the request before enqueueing it, so an acknowledged request is never lost."""
    request_id = h.requests.open(sid, action.value, source)
    req = RepairRequest(
        sid, Condition.MANUAL, action, (), reason or f"requested via {source}", source, request_id
    )
    h.dispatcher.repair(req)
    h.history.record(
        Record(
            sid=sid,
            outcome=Outcome.REQUESTED,
            condition="manual",
            action=action.value,
            reason=reason,
            source=source,
            request_id=request_id,
        )
    )
    return {"task_id": request_id, "service": sid, "action": action.value, "status": "queued"}
