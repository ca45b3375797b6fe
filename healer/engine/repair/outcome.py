"""How a repair ends: its outcome recorded once (history, counters, the request, the pending
mark, the post-repair hook) whichever step ended it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from healer.adapters.store.history import Record
from healer.core.model import INTENT_SOURCES, Outcome, RepairRequest
from healer.engine.context import Healer
from healer.engine.repair import actions

log = logging.getLogger("healer.repair")


@dataclass(frozen=True)
class RepairResult:
    outcome: Outcome  # ACTED, SKIPPED, FAILED or QUARANTINED
    reason: str
    detail: str = ""
    attempt: int = 0


def finish_repair(
    h: Healer, req: RepairRequest, result: RepairResult, once: bool = False
) -> RepairResult:
    rec = Record(
        sid=req.sid,
        outcome=result.outcome,
        condition=req.condition.value,
        action=str(req.action),
        reason=result.reason,
        detail=result.detail or req.detail,
        source=req.source,
        request_id=req.request_id,
        attempt=result.attempt,
    )
    if once:
        recorded = h.history.record_skip_once(rec)
    else:
        h.history.record(rec)
        recorded = True
    if recorded:
        h.counters.decision(req.sid, result.outcome)
    if req.source not in INTENT_SOURCES:
        h.state.clear_pending(req.sid, req.condition)
    if req.request_id:
        h.requests.close(req.request_id, result.outcome, result.reason, result.detail)
    actions.post_repair(h, req, result.outcome, result.reason, result.detail, result.attempt)
    log.info(
        "%s/%s %s %s: %s %s",
        h.host,
        req.sid,
        req.condition.value,
        result.outcome,
        result.reason,
        result.detail,
    )
    return result
