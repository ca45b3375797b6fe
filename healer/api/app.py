"""HTTP API: ad-hoc repairs, status, history, health. Mutating calls need the Bearer token.

`create_app` builds the Healer once and wires the routers; each route gets the Healer (and
the auth check) as a FastAPI dependency (healer.api.deps)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from healer.adapters.docker.engine import EngineError
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.api import deps
from healer.api.alerts import alerts_router, read_capped
from healer.api.bodies import (
    MAX_REPAIR_BODY,
    REPAIR_BODY_OPENAPI,
    history_window,
    parse_repair_body,
)
from healer.core.actions import UnknownAction
from healer.core.model import Source
from healer.engine.context import Healer, build
from healer.engine.repair import actions
from healer.engine.repair.manual import EnqueueFailed, enqueue_manual
from healer.engine.status import hosts, recoveries, status
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
async def post_repair(h: HealerDep, service: str, request: Request) -> dict[str, Any]:
    body = parse_repair_body(await read_capped(request, MAX_REPAIR_BODY))
    try:
        action = await run_in_threadpool(actions.check_in_cluster, h, body.action)
    except UnknownAction as exc:
        raise HTTPException(422, str(exc)) from exc
    # `service`, `project/service` or `host/project/service`: the repair runs on the worker
    # of the service's host (its own queue), never on another host's engine.
    ref = await run_in_threadpool(deps.service_ref, h, service)
    try:
        await run_in_threadpool(actions.check_on_host, h, ref.host, action)
    except UnknownAction as exc:
        raise HTTPException(422, str(exc)) from exc
    return await run_in_threadpool(enqueue_manual, h, ref, action, body.reason, Source.API)


@repairs.get("/requests/{request_id}")
def get_request(h: HealerDep, request_id: str) -> dict[str, Any]:
    data = h.requests.get(request_id)
    if not data:
        raise HTTPException(404, f"no request {request_id!r} (unknown or older than a day)")
    return dict(data)


reads = APIRouter()


@reads.get("/status")
def get_status(h: HealerDep) -> dict[str, Any]:
    return {
        "services": status(h),
        "hosts": hosts(h),
        "paused_all": h.flags.paused_all(),
        "recoveries": recoveries(h),
    }


@reads.get("/history")
def get_history(
    h: HealerDep,
    service: str | None = None,
    since: str = "24h",
    limit: int = Query(200, ge=1, le=10_000),
    host: str | None = None,
) -> dict[str, Any]:
    seconds = history_window(since)
    recs = h.history.query(service=service, since=time.time() - seconds, limit=limit, host=host)
    return {"entries": [r.__dict__ for r in recs]}


ops = APIRouter()


@ops.get("/metrics")
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@ops.get("/healthz")
def healthz(h: HealerDep) -> JSONResponse:
    checks: dict[str, str] = {}
    extra: dict[str, str] = {}
    try:
        h.stores.ping()
        checks["redis"] = "ok"
        extra["redis_master"] = h.stores.master()  # with Sentinel: the master found now
    except redis.RedisError as exc:
        checks["redis"] = f"down: {exc}"
    try:
        h.engine.ping()
        checks["docker"] = "ok"
    except EngineError as exc:
        checks["docker"] = f"down: {exc}"
    ok = all(v == "ok" for v in checks.values())
    if checks["redis"] == "ok":
        h.counters.heartbeat("api", ttl=120)
    return JSONResponse({"ok": ok, **checks, **extra}, status_code=200 if ok else 503)


async def _redis_down(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"Redis unavailable: {exc}"}, status_code=503)


async def _docker_down(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"Docker engine error: {exc}"}, status_code=503)


async def _broker_down(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    h = build(settings, CeleryDispatcher(make_celery(settings), settings.host_id))
    app = FastAPI(title="compose-healer", version="0.1.0")
    app.state.healer = h
    app.state.registry = CollectorRegistry(auto_describe=False)
    app.state.registry.register(h.stores.collector())
    app.add_exception_handler(redis.RedisError, _redis_down)
    app.add_exception_handler(EngineError, _docker_down)
    app.add_exception_handler(EnqueueFailed, _broker_down)
    app.include_router(alerts_router(h, deps.authorized, suppress=settings.alert_suppress))
    for router in (repairs, reads, ops):
        app.include_router(router)
    return app
