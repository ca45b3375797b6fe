"""FastAPI dependencies shared by the routers: the process's Healer and the Bearer check."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from healer.core.model import ServiceId
from healer.engine.context import Healer
from healer.engine.status import AmbiguousService, UnknownService, resolve


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


def service_id(h: Healer, service: str) -> ServiceId:
    """`service` or `project/service` → the managed service id; 404 or 409 otherwise."""
    try:
        return resolve(h, service)
    except UnknownService as exc:
        raise HTTPException(404, str(exc)) from exc
    except AmbiguousService as exc:
        raise HTTPException(409, str(exc)) from exc
