"""HTTP API: ad-hoc repairs, status, history, health. Mutating calls need the Bearer token.

`create_app` builds the Healer once and wires the routers; each route gets the Healer (and
the auth check) as a FastAPI dependency (healer.api.deps)."""

from __future__ import annotations

import logging
import math
import time
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from healer.adapters.docker.engine import EngineError, EngineUnreachable
from healer.adapters.hardening.environ import keep_environ_private
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.api import deps
from healer.api.access import middleware as access
from healer.api.alerts import alerts_router, read_capped
from healer.api.apidocs import offline as apidocs
from healer.api.bodies import (
    MAX_REPAIR_BODY,
    REPAIR_BODY_OPENAPI,
    history_window,
    parse_repair_body,
)
from healer.core.model import Source
from healer.engine.context import Healer, build
from healer.engine.repair import actions
from healer.engine.repair.manual import enqueue_manual
from healer.engine.status import hosts, recoveries, status
from healer.errors import Refused, RetryLater, Unavailable
from healer.settings import Settings

HealerDep = Annotated[Healer, Depends(deps.healer)]

log = logging.getLogger("healer.api")


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
    # An unknown action is UnknownAction (422), answered by the app's handler.
    action = await run_in_threadpool(actions.check_in_cluster, h, body.action)
    # `service`, `project/service` or `host/project/service`: the repair runs on the worker
    # of the service's host (its own queue), never on another host's engine.
    ref = await run_in_threadpool(deps.service_ref, h, service)
    await run_in_threadpool(actions.check_on_host, h, ref.host, action)
    by = deps.caller(request)
    return await run_in_threadpool(enqueue_manual, h, ref, action, body.reason, Source.API, by)


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
    # What failed, never how: addresses and exception text go to the API's log only.
    checks: dict[str, str] = {}
    try:
        h.stores.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        log.warning("healthz: Redis: %s", exc)
        checks["redis"] = "down: unreachable"
    try:
        h.engine.ping()
        checks["docker"] = "ok"
    except EngineError as exc:
        log.warning("healthz: Docker: %s", exc)
        checks["docker"] = (
            f"down: {'unreachable' if isinstance(exc, EngineUnreachable) else 'error'}"
        )
    ok = all(v == "ok" for v in checks.values())
    if checks["redis"] == "ok":
        h.counters.heartbeat("api", ttl=120)
    return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)


# Errors are answered by kind (healer.errors), once, here: the routes just raise. A 5xx body
# names what failed, never how: addresses and exception text go to the API's log only.


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, Refused) else 400
    return JSONResponse({"detail": str(exc)}, status_code=status)


def _later(request: Request, exc: Exception, detail: str, retry_after: float) -> JSONResponse:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return JSONResponse({"detail": detail}, status_code=503, headers=headers)


async def _retry_later(request: Request, exc: Exception) -> JSONResponse:
    delay = exc.retry_after if isinstance(exc, RetryLater) else 1.0
    return _later(request, exc, str(exc), delay)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    what = exc.public if isinstance(exc, Unavailable) and exc.public else str(exc)
    return _later(request, exc, what, Unavailable.retry_after)


async def _redis_error(request: Request, exc: Exception) -> JSONResponse:
    # A Redis error the store boundary did not translate (a refused command, say).
    return _later(request, exc, "Redis unavailable", Unavailable.retry_after)


async def _docker_error(request: Request, exc: Exception) -> JSONResponse:
    return _later(request, exc, "Docker engine error", Unavailable.retry_after)


def create_app(settings: Settings | None = None) -> FastAPI:
    keep_environ_private()  # the API's environ holds every token
    settings = settings or Settings()
    h = build(settings, CeleryDispatcher(make_celery(settings), settings.host_id))
    app = FastAPI(title="compose-healer", version="0.1.0", docs_url=None, redoc_url=None)
    access.install(app, settings)
    apidocs.install(app)
    app.state.healer = h
    app.state.registry = CollectorRegistry(auto_describe=False)
    app.state.registry.register(h.stores.collector())
    # Starlette picks the handler of the nearest class in the exception's MRO.
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RetryLater, _retry_later)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(redis.RedisError, _redis_error)
    app.add_exception_handler(EngineError, _docker_error)
    app.include_router(alerts_router(h, deps.alerts_authorized, suppress=settings.alert_suppress))
    for router in (repairs, reads, ops):
        app.include_router(router)
    return app
