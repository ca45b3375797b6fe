"""HTTP API: ad-hoc repairs, status, history, health. Mutating calls need the Bearer token.

`create_app` builds the Healer once and wires the routers; each route gets the Healer (and
the auth check) as a FastAPI dependency (healer.api.deps)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from healer import __version__
from healer.adapters.hardening.environ import keep_environ_private
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.api import deps, problems
from healer.api.access import middleware as access
from healer.api.alerts import alerts_router, read_capped
from healer.api.apidocs import offline as apidocs
from healer.api.bodies import (
    MAX_REPAIR_BODY,
    REPAIR_BODY_OPENAPI,
    history_window,
    parse_repair_body,
)
from healer.api.exposition import build_registry
from healer.api.health import health, ready_answer
from healer.api.operations import located, operations
from healer.core.model import Source
from healer.engine.context import Healer, build
from healer.engine.operations.bodies import BadCursor, history_body, status_body
from healer.engine.repair import actions
from healer.engine.repair.manual import enqueue_manual
from healer.settings import Settings

HealerDep = Annotated[Healer, Depends(deps.healer)]


repairs = APIRouter()


# The body is read by hand, after `authorized`: FastAPI reads a declared body parameter
# before it runs dependencies, so a stranger could make it buffer any amount.
@repairs.post(
    "/repair/{service:path}",
    status_code=202,
    dependencies=[Depends(deps.authorized)],
    openapi_extra=REPAIR_BODY_OPENAPI,
)
async def post_repair(
    h: HealerDep, service: str, request: Request, response: Response
) -> dict[str, Any]:
    body = parse_repair_body(await read_capped(request, MAX_REPAIR_BODY))
    # An unknown action is UnknownAction (a Refused, 422), answered by healer.api.problems.
    action = await run_in_threadpool(actions.check_in_cluster, h, body.action)
    # `service`, `project/service` or `host/project/service`: the repair runs on the worker
    # of the service's host (its own queue), never on another host's engine.
    ref = await run_in_threadpool(deps.service_ref, h, service)
    await run_in_threadpool(actions.check_on_host, h, ref.host, action)
    by = deps.caller(request)
    out = await run_in_threadpool(enqueue_manual, h, ref, action, body.reason, Source.API, by)
    return located(response, out)


@repairs.get("/requests/{request_id}")
def get_request(h: HealerDep, request_id: str) -> dict[str, Any]:
    data = h.requests.get(request_id)
    if not data:
        raise HTTPException(404, f"no request {request_id!r} (unknown or older than a day)")
    return {"request_id": request_id, **data}


reads = APIRouter()


@reads.get("/status")
def get_status(h: HealerDep) -> dict[str, Any]:
    return status_body(h)


@reads.get("/history")
def get_history(
    h: HealerDep,
    service: str | None = None,
    since: str = "24h",
    limit: int = Query(200, ge=1, le=10_000),
    host: str | None = None,
    before: Annotated[
        str | None, Query(description="the `next` of the previous page: older entries")
    ] = None,
) -> dict[str, Any]:
    """A page of entries, newest first, each with its stream `id`; `next` is the cursor."""
    seconds = history_window(since)
    try:
        return history_body(
            h,
            since=time.time() - seconds,
            limit=limit,
            service=service,
            host=host,
            before=before,
        )
    except BadCursor as exc:
        raise HTTPException(422, str(exc)) from exc


ops = APIRouter()


@ops.get("/metrics")
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@ops.get("/healthz")
def healthz(h: HealerDep) -> JSONResponse:
    """Kept beside /readyz (same answer) for existing probes."""
    return ready_answer(h)


def create_app(settings: Settings | None = None) -> FastAPI:
    keep_environ_private()  # the API's environ holds every token
    settings = settings or Settings()
    h = build(settings, CeleryDispatcher(make_celery(settings), settings.host_id))
    # /docs is served from packaged assets (healer.api.apidocs): no CDN, works offline.
    app = FastAPI(title="compose-healer", version=__version__, docs_url=None, redoc_url=None)
    access.install(app, settings)
    apidocs.install(app)
    app.state.healer = h
    app.state.registry = build_registry(h)
    problems.install(app)
    app.include_router(alerts_router(h, deps.alerts_authorized, suppress=settings.alert_suppress))
    for router in (repairs, reads, ops, health, operations):
        app.include_router(router)
    return app
