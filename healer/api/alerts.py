"""POST /alerts: Alertmanager's webhook, turned into guarded repairs.

Each alert is decided by `healer.core.alerts.decide` (pure), then applied here: duplicate
deliveries collapse on a Redis SET NX, a per (service, alertname) window keeps a re-firing
alert from repairing again, and every alert that is not a duplicate ends in a history record.
The repair itself goes through the same guard as the healer's own probes (Condition.ALERT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from healer.adapters.alert_marks import Claim
from healer.adapters.history import Record
from healer.api.bodies import json_body, load_json
from healer.core.alerts import (
    HOST,
    Alert,
    AlertDecision,
    Webhook,
    decide,
    describe_errors,
)
from healer.core.model import (
    Action,
    Condition,
    ContainerId,
    Outcome,
    RepairRequest,
    ServiceId,
    Source,
)
from healer.engine.actions import plugin_names
from healer.engine.context import Healer
from healer.engine.manual import send_or_fail
from healer.engine.status import AmbiguousService, UnknownService, resolve

# Alertmanager batches are small (grouped by alertname and service); 1 MiB is far above any
# real one and keeps a hostile or broken sender from making the API buffer without bound.
MAX_BODY_BYTES = 1 << 20

# Longer than Prometheus' usual lookback and Alertmanager's repeat_interval (10 min in
# monitoring/alertmanager), so one incident re-firing gives one repair, not one per delivery.
DEFAULT_SUPPRESS_SECONDS = 900


@dataclass(frozen=True)
class AlertResult:
    fingerprint: str
    alertname: str
    service: str
    decision: str  # queued | ignored | skipped | duplicate
    reason: str = ""  # why ignored/skipped; for a duplicate, the first delivery's reason
    task_id: str = ""
    duplicate_of: str = ""  # for a duplicate: the first delivery's decision (or "pending")


def alerts_router(
    h: Healer,
    authorized: Callable[..., Any],
    *,
    suppress: float = DEFAULT_SUPPRESS_SECONDS,
    max_body: int = MAX_BODY_BYTES,
) -> APIRouter:
    """`authorized` is the app's auth dependency; it runs before the body is read."""
    intake = AlertIntake(h, suppress)
    router = APIRouter()

    @router.post(
        "/alerts",
        status_code=202,
        dependencies=[Depends(authorized)],
        openapi_extra=json_body(Webhook),
    )
    async def post_alerts(request: Request) -> JSONResponse:
        hook = _parse(await read_capped(request, max_body))
        # Redis and Docker calls block: keep them off the event loop. A RedisError raised
        # here reaches the app's handler (503), so Alertmanager retries the batch.
        results = await run_in_threadpool(intake.handle, hook)
        body = {"results": [asdict(r) for r in results]}
        if _only_unknown_services(results):
            detail = "no alert named a managed compose service"
            return JSONResponse({"detail": detail, **body}, status_code=404)
        return JSONResponse(body, status_code=202)

    return router


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes: from the
    Content-Length before reading anything, and while streaming for chunked bodies."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes exceeds the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body exceeds the {limit}-byte limit")
    return bytes(body)


def _parse(raw: bytes) -> Webhook:
    data = load_json(raw)
    try:
        return Webhook.model_validate(data)
    except RecursionError as exc:
        raise HTTPException(422, "body is nested too deeply to be a webhook") from exc
    except ValidationError as exc:
        raise HTTPException(
            422, {"error": "not an Alertmanager webhook v4 body", "problems": describe_errors(exc)}
        ) from exc


def _only_unknown_services(results: list[AlertResult]) -> bool:
    # 404 tells the operator the alert's service label is wrong; a batch holding anything
    # the healer could act on (even if suppressed or already seen) is accepted. A duplicate
    # counts as what its first delivery was, so a re-delivery gets the same answer.
    actionable = [
        r
        for r in results
        if (r.duplicate_of or r.decision) != "ignored" and r.reason != "not_found"
    ]
    return not actionable and any(r.reason == "not_found" for r in results)


@dataclass(frozen=True)
class _Lookup:
    sid: ServiceId | None
    reason: str = ""  # not_found | ambiguous when sid is None
    message: str = ""


class AlertIntake:
    """Applies alert decisions: dedupe, suppression, service lookup, enqueue, record."""

    def __init__(self, h: Healer, suppress: float) -> None:
        self.h = h
        self.marks = h.stores.alerts
        self.suppress = max(1, int(suppress))

    def handle(self, hook: Webhook) -> list[AlertResult]:
        lookups: dict[str, _Lookup] = {}
        plugins = plugin_names()  # an alert's action label may name a plugin strategy
        return [self._one(alert, lookups, plugins) for alert in hook.alerts]

    def _one(
        self, alert: Alert, lookups: dict[str, _Lookup], plugins: frozenset[str]
    ) -> AlertResult:
        d = decide(alert, plugins)
        seen, first_outcome = self.marks.claim_delivery(
            alert.dedupe_key, alert.status == "resolved"
        )
        if seen is None:
            first, _, reason = first_outcome.partition(":")
            return _result(d, "duplicate", reason, duplicate_of=first)
        claimed = [seen]
        try:
            result = self._fresh(d, lookups, claimed)
        except BaseException:
            # Not acknowledged: Alertmanager's retry must be handled, not collapsed.
            self.marks.release(claimed)
            raise
        self.marks.settle_delivery(seen, f"{result.decision}:{result.reason}")
        return result

    def _fresh(
        self,
        d: AlertDecision,
        lookups: dict[str, _Lookup],
        claimed: list[Claim],
    ) -> AlertResult:
        if not d.act or d.action is None:
            self._record(d.service or "-", Outcome.IGNORED, d, d.reason)
            return _result(d, "ignored", d.reason)
        found = _Lookup(ServiceId(HOST)) if d.service == HOST else self._lookup(d, lookups)
        sid = found.sid
        if sid is None:
            self._record(
                d.service, Outcome.SKIPPED, d, found.reason, f"{d.detail}; {found.message}"
            )
            return _result(d, "skipped", found.reason)
        # `healer pause` is an operator's "leave it alone"; an alert does not overrule it
        # (the repair task lets alert-sourced repairs through a pause, so check here).
        if self.h.flags.is_paused(sid):
            self._record(sid, Outcome.SKIPPED, d, "paused", f"{d.detail}; paused by an operator")
            return _result(d, "skipped", "paused", sid)
        containers: tuple[ContainerId, ...] = ()
        if d.container and d.repair_action is not None:
            # The alert names one container: repair that one, not every replica.
            cid = self._container(sid, d.container)
            if cid is None:
                why = f"{d.detail}; no container {d.container!r} in {sid}"
                self._record(sid, Outcome.SKIPPED, d, "container_not_found", why)
                return _result(d, "skipped", "container_not_found", sid)
            containers = (cid,)
        window = self.marks.claim_window(sid, d.alertname, self.suppress)
        if window is None:
            why = f"{d.detail}; already repaired for this alert within {self.suppress}s"
            self._record(sid, Outcome.SKIPPED, d, "suppressed", why)
            return _result(d, "skipped", "suppressed", sid)
        claimed.append(window)
        task_id = self._dispatch(sid, d, containers)
        return _result(d, "queued", "", sid, task_id)

    def _container(self, sid: ServiceId, name: str) -> ContainerId | None:
        view = self.h.engine.services(sid).get(sid)
        for c in view.containers if view else ():
            if name in (c.name, c.id, c.id[:12]):
                return c.id
        return None

    def _lookup(self, d: AlertDecision, lookups: dict[str, _Lookup]) -> _Lookup:
        # One Docker list call per distinct service name of the batch, not per alert.
        if d.service not in lookups:
            try:
                lookups[d.service] = _Lookup(resolve(self.h, d.service))
            except UnknownService as exc:
                lookups[d.service] = _Lookup(None, "not_found", str(exc))
            except AmbiguousService as exc:
                lookups[d.service] = _Lookup(None, "ambiguous", str(exc))
        return lookups[d.service]

    def _dispatch(
        self, sid: ServiceId, d: AlertDecision, containers: tuple[ContainerId, ...] = ()
    ) -> str:
        """Record the request, then enqueue it, then log it: the enqueue_manual order, so an
        acknowledged alert always leaves a trace even if the worker never runs it. A broker
        that refuses the task closes the record as failed (EnqueueFailed → 503)."""
        assert d.action is not None
        request_id = self.h.requests.open(sid, d.action, Source.ALERT, alertname=d.alertname)
        send_or_fail(self.h, request_id, lambda: self._send(sid, d, request_id, containers))
        self._record(sid, Outcome.REQUESTED, d, "", d.detail, request_id)
        return request_id

    def _send(
        self, sid: ServiceId, d: AlertDecision, request_id: str, containers: tuple[ContainerId, ...]
    ) -> None:
        repair_action = d.repair_action
        if repair_action is not None:
            req = RepairRequest(
                sid, Condition.ALERT, repair_action, containers, d.detail, Source.ALERT, request_id
            )
            self.h.dispatcher.repair(req)
        elif d.action == Action.CLEANUP:
            self.h.dispatcher.cleanup(Source.ALERT, request_id)
        else:
            # replicas=-1: one more than the service runs when the task executes.
            self.h.dispatcher.scale(sid, -1, Source.ALERT, request_id)

    def _record(
        self,
        sid: str,
        outcome: Outcome,
        d: AlertDecision,
        reason: str,
        detail: str = "",
        request_id: str = "",
    ) -> None:
        self.h.history.record(
            Record(
                sid=sid,
                outcome=outcome,
                condition=Condition.ALERT.value,
                action=str(d.action or ""),
                reason=reason,
                detail=detail or d.detail,
                source=Source.ALERT,
                request_id=request_id,
                extra={
                    "alertname": d.alertname,
                    "fingerprint": d.fingerprint,
                    "starts_at": d.starts_at,
                },
            )
        )


def _result(
    d: AlertDecision,
    decision: str,
    reason: str,
    sid: str = "",
    task_id: str = "",
    duplicate_of: str = "",
) -> AlertResult:
    service = sid or d.service
    return AlertResult(d.fingerprint, d.alertname, service, decision, reason, task_id, duplicate_of)
