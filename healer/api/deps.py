"""FastAPI dependencies shared by the routers: the process's Healer and the Bearer check."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from healer.core.hosts import ServiceRef
from healer.engine.context import Healer
from healer.engine.status import (
    require_live,
    resolve,
)


def healer(request: Request) -> Healer:
    """The Healer create_app built for this process (one per API process)."""
    h: Healer = request.app.state.healer
    return h


def authorized(request: Request) -> None:
    """Every mutating call needs `Authorization: Bearer <HEALER_API_TOKEN>`."""
    token_setting = healer(request).settings.api_token
    expected = token_setting.get_secret_value() if token_setting else ""
    if not expected:
        raise HTTPException(403, "HEALER_API_TOKEN is not set; mutating calls are disabled")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(
            401, "missing or invalid Bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def alerts_authorized(request: Request) -> None:
    """POST /alerts needs `Authorization: Bearer <HEALER_ALERTS_TOKEN>` and accepts no other
    token: the operator's token cannot be replayed as an alert, nor Alertmanager's as an
    operator. (The access middleware checks it first; this keeps the route safe on its own.)"""
    token_setting = healer(request).settings.alerts_token
    expected = token_setting.get_secret_value() if token_setting else ""
    if not expected:
        raise HTTPException(403, "HEALER_ALERTS_TOKEN is not set; /alerts is disabled")
    _, _, token = request.headers.get("authorization", "").partition(" ")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise HTTPException(
            401, "missing or invalid Bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def caller(request: Request) -> str:
    """Which token made the request (`api:1a2b3c4d`, healer.api.access.tokens); never the
    token itself."""
    return str(getattr(request.state, "caller", "") or "")


def service_ref(h: Healer, service: str) -> ServiceRef:
    """`service`, `project/service` or `host/project/service` → the one service it names on
    a live host. Unknown (404), ambiguous (409, the message lists the candidates) and a host
    that is host_down (503: no agent would act on it) are answered by the app's handlers."""
    ref = resolve(h, service)
    require_live(h, ref)
    return ref
