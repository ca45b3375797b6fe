"""Every error of the HTTP API as RFC 9457 `application/problem+json`.

One shape for all of them: `type`, `title` (the status phrase), `status`, `detail` (what was
wrong, in words) and `instance` (the path asked for); a validation error adds `problems`, one
line per bad field. A 503 carries `Retry-After`: the dependency may come back.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from healer.adapters.docker.engine import EngineError
from healer.errors import Refused, RetryLater, Unavailable

log = logging.getLogger("healer.api")

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


# Errors by kind (healer.errors): the routes just raise. A 5xx body names what failed, never
# how: addresses and exception text go to the API's log only.


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, Refused) else 400
    return problem(request, status, str(exc))


def _later(request: Request, exc: Exception, detail: str, retry_after: float) -> JSONResponse:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return problem(request, 503, detail, headers)


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
    # EngineUnreachable is an EngineError and Unavailable: the MRO meets EngineError first.
    if isinstance(exc, Unavailable):
        return await _unavailable(request, exc)
    return _later(request, exc, "Docker engine error", Unavailable.retry_after)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
    },
}


def document(app: FastAPI) -> None:
    """The OpenAPI document says what the handlers do: every 4xx/5xx answer of every
    operation is `application/problem+json`, not FastAPI's default validation list."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    for code, answer in op.get("responses", {}).items():
                        if code[:1] in ("4", "5"):
                            answer["content"] = {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Route every error the API raises through `problem`. Starlette picks the handler of
    the nearest class in the exception's MRO, so a kind's subclasses share its answer."""
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RetryLater, _retry_later)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(redis.RedisError, _redis_error)
    app.add_exception_handler(EngineError, _docker_error)
    document(app)
