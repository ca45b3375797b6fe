"""POST /alerts: Alertmanager's webhook, turned into guarded repairs.

Each alert is decided by `healer.core.alerts.decide` (pure), then applied here: duplicate
deliveries collapse on a Redis SET NX; the service's labels bound what an alert may ask
(healer.core.alertpolicy); a per (service, action) window keeps a re-firing alert, or another
rule asking the same, from repairing again; a cluster-wide rate caps alert actions a minute;
every alert that is not a duplicate ends in a history record. The repair itself goes through
the same guard as the healer's own probes (Condition.ALERT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from healer.adapters.store.alert_marks import Claim
from healer.adapters.store.history import Record
from healer.api.bodies import json_body, load_json
from healer.core.actions import UnknownAction
from healer.core.alertpolicy.allowed import alert_refusal
from healer.core.alerts import (
    ALERT_ONE_FEWER,
    ALERT_ONE_MORE,
    HOST,
    Alert,
    AlertDecision,
    IgnoreReason,
    Webhook,
    decide,
    describe_errors,
)
from healer.core.hosts import (
    AmbiguousService,
    ServiceRef,
    UnknownService,
    host_of_alert,
    resolve_service,
)
from healer.core.model import (
    Action,
    Condition,
    ContainerId,
    HostId,
    Outcome,
    RepairRequest,
    ServiceId,
    Source,
)
from healer.engine.context import Healer
from healer.engine.repair.actions import check_on_host, cluster_strategies
from healer.engine.repair.manual import send_or_fail
from healer.engine.status import HostDown, catalogue, require_live

# Alertmanager batches are small (grouped by alertname and service); 1 MiB is far above any
# real one and keeps a hostile or broken sender from making the API buffer without bound.
MAX_BODY_BYTES = 1 << 20

# Alert actions queued per minute across every service: a storm of alerts (or a sender that
# got hold of the alerts token) cannot restart the whole cluster at once.
DEFAULT_RATE = 30

# Alertmanager groups alerts by name and service: a real batch holds a few. The rest of a
# larger one is answered `ignored` (batch_cap), never acted on, never recorded one by one.
MAX_ALERTS_PER_BATCH = 100

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
    host: str = ""  # the Docker host the alert's work runs on


def alerts_router(
    h: Healer,
    authorized: Callable[..., Any],
    *,
    suppress: float = DEFAULT_SUPPRESS_SECONDS,
    max_body: int = MAX_BODY_BYTES,
) -> APIRouter:
    """`authorized` is the app's auth dependency; it runs before the body is read."""
    intake = AlertIntake(h, suppress, h.settings.alert_rate)
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
    ref: ServiceRef | None
    reason: str = ""  # not_found | ambiguous | host_down when ref is None
    message: str = ""


class AlertIntake:
    """Applies alert decisions: dedupe, suppression, service lookup, enqueue, record.

    An alert runs on the host its `host` (or `instance`) label names; without one its
    `service` label resolves like any service id across the cluster."""

    def __init__(self, h: Healer, suppress: float, rate: int = DEFAULT_RATE) -> None:
        self.h = h
        self.marks = h.stores.alerts
        self.suppress = max(1, int(suppress))
        self.rate = max(1, rate)

    def handle(self, hook: Webhook) -> list[AlertResult]:
        batch = _Batch()
        # An alert's action label may name a plugin strategy of any host; the service's own
        # host is asked once the service is found.
        plugins = cluster_strategies(self.h)
        kept = hook.alerts[:MAX_ALERTS_PER_BATCH]
        results = [self._one(alert, batch, plugins) for alert in kept]
        for alert in hook.alerts[len(kept) :]:
            d = decide(alert, plugins)
            results.append(_result(d, "ignored", "batch_cap"))
        return results

    def _one(self, alert: Alert, batch: _Batch, plugins: frozenset[str]) -> AlertResult:
        d = decide(alert, plugins)
        seen, first_outcome = self.marks.claim_delivery(
            alert.dedupe_key, alert.status == "resolved"
        )
        if seen is None:
            first, _, reason = first_outcome.partition(":")
            return _result(d, "duplicate", reason, duplicate_of=first)
        claimed = [seen]
        try:
            result = self._fresh(d, batch, claimed)
        except BaseException:
            # Not acknowledged: Alertmanager's retry must be handled, not collapsed.
            self.marks.release(claimed)
            raise
        self.marks.settle_delivery(seen, f"{result.decision}:{result.reason}")
        return result

    def _fresh(self, d: AlertDecision, batch: _Batch, claimed: list[Claim]) -> AlertResult:
        if not d.act or d.action is None:
            self._record(d.service or "-", Outcome.IGNORED, d, d.reason)
            return _result(d, "ignored", d.reason)
        found = self._lookup(d, batch)
        ref = found.ref
        if ref is None:
            why = f"{d.detail}; {found.message}"
            self._record(d.service, Outcome.SKIPPED, d, found.reason, why)
            return _result(d, "skipped", found.reason)
        # `healer pause` is an operator's "leave it alone"; an alert does not overrule it
        # (the repair task lets alert-sourced repairs through a pause, so check here).
        if self.h.stores.on(ref.host).flags.is_paused(ref.sid):
            self._record(ref, Outcome.SKIPPED, d, "paused", f"{d.detail}; paused by an operator")
            return _result(d, "skipped", "paused", ref)
        if d.repair_action is not None:
            try:
                check_on_host(self.h, ref.host, d.repair_action)
            except UnknownAction as exc:
                why = IgnoreReason.UNKNOWN_ACTION
                self._record(ref, Outcome.SKIPPED, d, why, f"{d.detail}; {exc}")
                return _result(d, "skipped", why, ref)
        # What the service lets alerts do (an unknown action was named above already).
        refusal = (
            None if ref.sid == HOST else alert_refusal(str(d.action), self._labels(ref, batch))
        )
        if refusal is not None:
            self._record(ref, Outcome.SKIPPED, d, "not_allowed", f"{d.detail}; {refusal}")
            return _result(d, "skipped", "not_allowed", ref)
        containers: tuple[ContainerId, ...] = ()
        if d.container and d.repair_action is not None:
            # The alert names one container: repair that one, not every replica.
            cid = self._container(ref, d.container)
            if cid is None:
                why = f"{d.detail}; no container {d.container!r} in {ref}"
                self._record(ref, Outcome.SKIPPED, d, "container_not_found", why)
                return _result(d, "skipped", "container_not_found", ref)
            containers = (cid,)
        # Keyed on what is done to what, not on the alert's name: a renamed or second rule
        # asking the same action on the same service within the window is suppressed too.
        window = self.marks.claim_window(ref.qualified, str(d.action), self.suppress)
        if window is None:
            why = f"{d.detail}; {d.action} already requested by an alert within {self.suppress}s"
            self._record(ref, Outcome.SKIPPED, d, "suppressed", why)
            return _result(d, "skipped", "suppressed", ref)
        claimed.append(window)
        if not self.marks.take_rate(self.rate, 60):
            why = f"{d.detail}; over {self.rate} alert actions a minute across all services"
            self._record(ref, Outcome.SKIPPED, d, "rate_limited", why)
            return _result(d, "skipped", "rate_limited", ref)
        task_id = self._dispatch(ref, d, containers)
        return _result(d, "queued", "", ref, task_id)

    def _labels(self, ref: ServiceRef, batch: _Batch) -> dict[str, str]:
        """The service's labels (replica 1's), from this host's engine. A service of another
        host is read by its own agent only: its alerts get the default actions."""
        if ref.host != self.h.host:
            return {}
        if ref.sid not in batch.labels:
            view = self.h.engine.services(ref.sid).get(ref.sid)
            batch.labels[ref.sid] = dict(view.labels) if view else {}
        return batch.labels[ref.sid]

    def _container(self, ref: ServiceRef, name: str) -> ContainerId | None:
        """The alert's container (name, id or short id) among the service's. This host's
        engine is asked directly; another host's engine is its agent's, so its last probe's
        snapshot answers (with the short id, which the repair accepts)."""
        if ref.host == self.h.host:
            view = self.h.engine.services(ref.sid).get(ref.sid)
            for c in view.containers if view else ():
                if name in (c.name, c.id, c.id[:12]):
                    return c.id
            return None
        snap = self.h.stores.snapshots(ref.host).get(str(ref.sid)) or {}
        listed = snap.get("containers")
        for c in listed if isinstance(listed, list) else ():
            short = str(c.get("id", ""))
            if short and (name in (c.get("name"), short) or name.startswith(short)):
                return ContainerId(short)
        return None

    def _lookup(self, d: AlertDecision, batch: _Batch) -> _Lookup:
        # One catalogue read (one Docker list call) per batch, one lookup per distinct target.
        if batch.catalogue is None:
            batch.catalogue = catalogue(self.h)
        host = host_of_alert(dict(d.host_labels), batch.catalogue)
        target = (host or "", d.service)
        if target not in batch.lookups:
            batch.lookups[target] = self._find(batch.catalogue, host, d.service)
        return batch.lookups[target]

    def _find(
        self, known: dict[HostId, set[ServiceId]], host: HostId | None, service: str
    ) -> _Lookup:
        scope = known if host is None else {host: known.get(host, set())}
        try:
            ref = _host_target(scope) if service == HOST else resolve_service(service, scope)
            require_live(self.h, ref)
        except UnknownService as exc:
            where = f" on host {host!r}" if host else ""
            return _Lookup(None, "not_found", f"{exc}{where}")
        except AmbiguousService as exc:
            return _Lookup(None, "ambiguous", f"{exc}; add a `host` label to the alert")
        except HostDown as exc:
            return _Lookup(None, "host_down", str(exc))
        return _Lookup(ref)

    def _dispatch(
        self, ref: ServiceRef, d: AlertDecision, containers: tuple[ContainerId, ...] = ()
    ) -> str:
        """Record the request, then enqueue it on the service's host, then log it: the
        enqueue_manual order, so an acknowledged alert always leaves a trace even if the
        worker never runs it. A broker that refuses the task closes the record as failed
        (EnqueueFailed → 503)."""
        assert d.action is not None
        request_id = self.h.requests.open(
            ref.sid, d.action, Source.ALERT, alertname=d.alertname, host=ref.host
        )
        send_or_fail(self.h, request_id, lambda: self._send(ref, d, request_id, containers))
        self._record(ref, Outcome.REQUESTED, d, "", d.detail, request_id)
        return request_id

    def _send(
        self,
        ref: ServiceRef,
        d: AlertDecision,
        request_id: str,
        containers: tuple[ContainerId, ...],
    ) -> None:
        repair_action = d.repair_action
        if repair_action is not None:
            req = RepairRequest(
                ref.sid,
                Condition.ALERT,
                repair_action,
                containers,
                d.detail,
                Source.ALERT,
                request_id,
                host=ref.host,
            )
            self.h.dispatcher.repair(req)
        elif d.action == Action.CLEANUP:
            self.h.dispatcher.cleanup(Source.ALERT, request_id, host=ref.host)
        else:
            # replicas=-1: one more than the service runs when the task executes; -2: one fewer.
            step = ALERT_ONE_FEWER if d.action == Action.SCALE_DOWN else ALERT_ONE_MORE
            self.h.dispatcher.scale(ref.sid, step, Source.ALERT, request_id, host=ref.host)

    def _record(
        self,
        target: ServiceRef | str,
        outcome: Outcome,
        d: AlertDecision,
        reason: str,
        detail: str = "",
        request_id: str = "",
    ) -> None:
        ref = target if isinstance(target, ServiceRef) else None
        self.h.history.record(
            Record(
                sid=str(ref.sid) if ref else str(target),
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
                # An alert that named no resolvable host is the cluster's: no host.
                host=ref.host if ref else "-",
            )
        )


@dataclass
class _Batch:
    """What one webhook delivery looks up once: the cluster's catalogue, then each target."""

    catalogue: dict[HostId, set[ServiceId]] | None = None
    lookups: dict[tuple[str, str], _Lookup] = field(default_factory=dict)
    labels: dict[ServiceId, dict[str, str]] = field(default_factory=dict)


def _host_target(scope: dict[HostId, set[ServiceId]]) -> ServiceRef:
    """The host-wide pseudo-service (disk cleanup): which host, unless several could be meant."""
    hosts = sorted(scope)
    if len(hosts) == 1:
        return ServiceRef(hosts[0], ServiceId(HOST))
    if not hosts:
        raise UnknownService("no known host")
    names = tuple(f"{h}/{HOST}" for h in hosts)
    raise AmbiguousService(f"a host-wide alert on several hosts: {', '.join(names)}", names)


def _result(
    d: AlertDecision,
    decision: str,
    reason: str,
    ref: ServiceRef | None = None,
    task_id: str = "",
    duplicate_of: str = "",
) -> AlertResult:
    service = str(ref.sid) if ref else d.service
    host = ref.host if ref else ""
    return AlertResult(
        d.fingerprint, d.alertname, service, decision, reason, task_id, duplicate_of, host
    )
