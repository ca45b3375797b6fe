"""Every error of the HTTP API as RFC 9457 `application/problem+json`.

One shape for all of them: `type`, `title` (the status phrase), `status`, `detail` (what was
wrong, in words) and `instance` (the path asked for); a validation error adds `problems`, one
line per bad field. A 503 carries `Retry-After`: the dependency may come back.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from healer.adapters.docker.engine import EngineError
from healer.engine.repair.manual import EnqueueFailed

MEDIA_TYPE = "application/problem+json"
RETRY_AFTER = "5"  # seconds: a reconnect to Redis, Docker or the broker is quick when it comes


def problem(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    headers = dict(headers or {})
    if status == 503:
        headers.setdefault("Retry-After", RETRY_AFTER)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail: Any = exc.detail
    extra: dict[str, Any] = {}
    if isinstance(detail, dict):  # {"error": ..., "problems": [...]} from the body checks
        extra = {k: v for k, v in detail.items() if k != "error"}
        detail = detail.get("error", "")
    return problem(request, exc.status_code, str(detail), dict(exc.headers or {}), **extra)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()
    ]
    return problem(request, 422, "; ".join(problems), problems=problems)


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, 503, f"Redis unavailable: {exc}")


async def _docker_down(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, 503, f"Docker engine error: {exc}")


async def _broker_down(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, 503, str(exc))


def install(app: FastAPI) -> None:
    """Route every error the API raises through `problem`."""
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(redis.RedisError, _redis_down)
    app.add_exception_handler(EngineError, _docker_down)
    app.add_exception_handler(EnqueueFailed, _broker_down)
