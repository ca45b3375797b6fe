"""HTTP API: ad-hoc repairs, status, history, health. Mutating calls need the Bearer token."""

from __future__ import annotations

import hmac
import time
from typing import Any

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from healer.adapters import keys
from healer.adapters.docker_engine import EngineError
from healer.adapters.metrics import HealerCollector
from healer.adapters.queue import CeleryDispatcher, make_celery
from healer.api.alerts import alerts_router, read_capped
from healer.api.bodies import (
    MAX_REPAIR_BODY,
    REPAIR_BODY_OPENAPI,
    history_window,
    parse_repair_body,
)
from healer.core.model import Action
from healer.engine.context import Healer, build
from healer.engine.manual import EnqueueFailed, enqueue_manual
from healer.engine.status import AmbiguousService, UnknownService, resolve, status
from healer.settings import Settings

REPAIR_ACTIONS = (Action.RESTART, Action.START, Action.STOP_START)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    h = build(settings, CeleryDispatcher(make_celery(settings)))
    app = FastAPI(title="compose-healer", version="0.1.0")
    app.state.healer = h

    @app.exception_handler(redis.RedisError)
    async def redis_down(_: Request, exc: redis.RedisError) -> JSONResponse:
        return JSONResponse({"detail": f"Redis unavailable: {exc}"}, status_code=503)

    @app.exception_handler(EngineError)
    async def docker_down(_: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse({"detail": f"Docker engine error: {exc}"}, status_code=503)

    @app.exception_handler(EnqueueFailed)
    async def broker_down(_: Request, exc: EnqueueFailed) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    def authorized(request: Request) -> None:
        expected = settings.api_token.get_secret_value() if settings.api_token else ""
        if not expected:
            raise HTTPException(403, "HEALER_API_TOKEN is not set; mutating calls are disabled")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
            raise HTTPException(
                401, "missing or invalid Bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    app.include_router(alerts_router(h, authorized, suppress=settings.alert_suppress))

    # The body is read by hand, after `authorized`: FastAPI reads a declared body parameter
    # before it runs dependencies, so a stranger could make it buffer any amount.
    @app.post(
        "/repair/{service:path}",
        status_code=202,
        dependencies=[Depends(authorized)],
        openapi_extra=REPAIR_BODY_OPENAPI,
    )
    async def post_repair(service: str, request: Request) -> dict[str, Any]:
        body = parse_repair_body(await read_capped(request, MAX_REPAIR_BODY))
        if body.action not in REPAIR_ACTIONS:
            raise HTTPException(422, f"action must be one of {[a.value for a in REPAIR_ACTIONS]}")
        sid = await run_in_threadpool(_resolve, h, service)
        return await run_in_threadpool(enqueue_manual, h, sid, body.action, body.reason, "api")

    @app.get("/requests/{request_id}")
    def get_request(request_id: str) -> dict[str, Any]:
        data = h.redis.hgetall(keys.request(request_id))
        if not data:
            raise HTTPException(404, f"no request {request_id!r} (unknown or older than a day)")
        return dict(data)

    @app.get("/status")
    def get_status() -> dict[str, Any]:
        return {"services": status(h), "paused_all": bool(h.redis.exists(keys.PAUSED_ALL))}

    @app.get("/history")
    def get_history(
        service: str | None = None, since: str = "24h", limit: int = Query(200, ge=1, le=10_000)
    ) -> dict[str, Any]:
        seconds = history_window(since)
        recs = h.history.query(service=service, since=time.time() - seconds, limit=limit)
        return {"entries": [r.__dict__ for r in recs]}

    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealerCollector(h.redis))

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            h.redis.ping()
            checks["redis"] = "ok"
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
        return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)

    return app


def _resolve(h: Healer, service: str) -> Any:
    try:
        return resolve(h, service)
    except UnknownService as exc:
        raise HTTPException(404, str(exc)) from exc
    except AmbiguousService as exc:
        raise HTTPException(409, str(exc)) from exc
