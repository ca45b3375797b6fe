"""Operator-requested repairs (API, CLI, alerts): recorded first, then enqueued on the
service's host."""

from __future__ import annotations

from typing import Any

from healer.adapters.history import Record
from healer.core.hosts import ServiceRef
from healer.core.model import Action, Condition, Outcome, RepairRequest, Source
from healer.engine.context import Healer


def enqueue_manual(
    h: Healer, ref: ServiceRef, action: Action, reason: str, source: Source
) -> dict[str, Any]:
    """Record the request before enqueueing it, so an acknowledged request is never lost."""
    request_id = h.requests.open(ref.sid, action.value, source, host=ref.host)
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
            outcome=Outcome.REQUESTED,
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
