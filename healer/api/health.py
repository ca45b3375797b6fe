"""Health routes, without a token: `/livez` (the process answers), `/readyz` and `/healthz`
(Redis and the Docker engine answer). A 503 carries `Retry-After`."""

from __future__ import annotations

import logging
from typing import Annotated

import redis
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from healer.adapters.docker.engine import EngineError, EngineUnreachable
from healer.api import deps
from healer.api.problems import RETRY_AFTER
from healer.engine.context import Healer

health = APIRouter()
log = logging.getLogger("healer.api")
HealerDep = Annotated[Healer, Depends(deps.healer)]


def checks(h: Healer) -> dict[str, str]:
    """`ok` or `down: <why>` for Redis and for the Docker engine."""
    out: dict[str, str] = {}
    # What failed, never how: addresses and exception text go to the API's log only.
    try:
        h.stores.ping()
        out["redis"] = "ok"
    except redis.RedisError as exc:
        log.warning("health: Redis: %s", exc)
        out["redis"] = "down: unreachable"
    try:
        h.engine.ping()
        out["docker"] = "ok"
    except EngineError as exc:
        log.warning("health: Docker: %s", exc)
        out["docker"] = f"down: {'unreachable' if isinstance(exc, EngineUnreachable) else 'error'}"
    return out


def ready_answer(h: Healer) -> JSONResponse:
    found = checks(h)
    ok = all(v == "ok" for v in found.values())
    extra: dict[str, str] = {}
    if found["redis"] == "ok":
        h.counters.heartbeat("api", ttl=120)
        extra["redis_master"] = h.stores.master()  # with Sentinel: the master found now
    headers = {} if ok else {"Retry-After": RETRY_AFTER}
    body = {"ok": ok, **found, **extra}
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)


@health.get("/livez")
def livez() -> dict[str, bool]:
    """The process serves requests; says nothing of Redis or Docker (restart only if not)."""
    return {"ok": True}


@health.get("/readyz")
def readyz(h: HealerDep) -> JSONResponse:
    """Ready to serve: Redis and the Docker engine answer (else 503 with Retry-After)."""
    return ready_answer(h)
