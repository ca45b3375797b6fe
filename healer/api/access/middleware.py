"""The token check for every route (but the health probes), as one ASGI middleware: a route
added later is covered without remembering a dependency. Before it, the Host check: a Host
header the operator did not list (HEALER_API_ALLOWED_HOSTS) answers 400, so a DNS-rebinding
page cannot read the API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

from healer.api.access.tokens import Token, bearer, configured, is_open, matching, may_use
from healer.settings import Settings

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def host_name(header: str) -> str:
    """`api.example:8000` → `api.example`, `[::1]:8000` → `::1`."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.partition(":")[0]


class AccessMiddleware:
    def __init__(self, app: ASGIApp, tokens: tuple[Token, ...], hosts: frozenset[str]) -> None:
        self.app = app
        self.tokens = tokens
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "*" not in self.hosts and host_name(headers.get("host", "")) not in self.hosts:
            return await _deny(send, 400, "Host header not allowed (HEALER_API_ALLOWED_HOSTS)")
        if is_open(scope["path"]):
            return await self.app(scope, receive, send)
        token = matching(self.tokens, bearer(headers.get("authorization", "")))
        if token is None:
            return await _deny(send, 401, "missing or invalid Bearer token")
        if not may_use(token, scope["method"], scope["path"]):
            return await _deny(send, 403, f"the {token.name} token does not reach this route")
        scope.setdefault("state", {})["caller"] = token.caller
        return await self.app(scope, receive, send)


async def _deny(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def allowed_hosts(settings: Settings) -> frozenset[str]:
    listed = [
        host_name(h) if h.strip() != "*" else "*" for h in settings.api_allowed_hosts.split(",")
    ]
    return frozenset(h for h in listed if h) or frozenset({"*"})


def install(app: FastAPI, settings: Settings) -> None:
    """The Host check, then the token (a wrong Host is refused before any token is read)."""
    tokens = configured(
        api=settings.api_token, alerts=settings.alerts_token, metrics=settings.metrics_token
    )
    app.add_middleware(AccessMiddleware, tokens=tokens, hosts=allowed_hosts(settings))
