"""The token check for every route (but the health probes), as one ASGI middleware: a route
added later is covered without remembering a dependency. Before it, the Host check: a Host
header the operator did not list (HEALER_API_ALLOWED_HOSTS) answers 400, so a DNS-rebinding
page cannot read the API on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from healer.api.access.tokens import Token, bearer, configured, is_open, matching, may_use
from healer.api.problems import MEDIA_TYPE
from healer.settings import Settings

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def host_name(header: str) -> str:
    """`api.example:8000` → `api.example`, `[::1]:8000` → `::1`."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.partition(":")[0]


class Bucket:
    """A token bucket: `burst` calls at once, then `rate` a second (one per process)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.level, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level < 1:
            return False
        self.level -= 1
        return True


# The reads that cost: /status asks Redis for every host's snapshot, /history walks the
# stream. A holder of a token polling them in a loop gets 429 past this.
COSTLY_READS = frozenset({"/status", "/history"})


class AccessMiddleware:
    def __init__(self, app: ASGIApp, tokens: tuple[Token, ...], hosts: frozenset[str]) -> None:
        self.app = app
        self.tokens = tokens
        self.hosts = hosts
        self.costly = Bucket(rate=10.0, burst=30)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "*" not in self.hosts and host_name(headers.get("host", "")) not in self.hosts:
            why = "Host header not allowed (HEALER_API_ALLOWED_HOSTS)"
            return await _deny(scope, send, 400, why)
        if is_open(scope["path"]):
            return await self.app(scope, receive, send)
        token = matching(self.tokens, bearer(headers.get("authorization", "")))
        if token is None:
            return await _deny(scope, send, 401, "missing or invalid Bearer token")
        if not may_use(token, scope["method"], scope["path"]):
            why = f"the {token.name} token does not reach this route"
            return await _deny(scope, send, 403, why)
        if scope["path"] in COSTLY_READS and not self.costly.take():
            why = "too many /status and /history reads; retry in a second"
            return await _deny(scope, send, 429, why)
        scope.setdefault("state", {})["caller"] = token.caller
        return await self.app(scope, receive, send)


async def _deny(scope: Scope, send: Any, status: int, detail: str) -> None:
    """The refusal in the API's one error shape, RFC 9457 problem+json (healer.api.problems)."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
        }
    ).encode()
    length = str(len(body)).encode()
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", length)]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if status == 429:
        headers.append((b"retry-after", b"1"))
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
