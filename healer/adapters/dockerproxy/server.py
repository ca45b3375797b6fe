"""The proxy's HTTP side: a plain ASGI app (served by uvicorn) that reads the request whole
(bounded), asks the policy, and forwards to the engine's socket, streaming the answer back.

Streams (events, stats) are copied chunk by chunk until either side ends; a client that goes
away cancels the upstream read. No route the worker level allows upgrades the connection
(attach and exec are refused), so there is no hijacked stream to relay.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from healer.adapters.dockerproxy.engine import EngineReader
from healer.adapters.dockerproxy.policy import Policy
from healer.core.dockerpolicy.routes import Call, match, truthy

log = logging.getLogger("healer.dockerproxy")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"}


class TooLarge(Exception):
    pass


class Disconnected(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ProxyApp:
    def __init__(self, socket: str, projects: list[str], max_body: int) -> None:
        transport = httpx.AsyncHTTPTransport(uds=socket)
        # No read timeout: an event stream may be silent for hours, a stop takes its grace.
        timeout = httpx.Timeout(connect=10.0, read=None, write=30.0, pool=30.0)
        self.client = httpx.AsyncClient(
            transport=transport, base_url="http://docker", timeout=timeout
        )
        self.policy = Policy(EngineReader(self.client), projects)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        call = match(method, path)
        try:
            raw = await _read_body(receive, self.max_body)
        except TooLarge:
            return await self._refuse(send, method, path, f"body over {self.max_body} bytes", 413)
        except Disconnected:
            return None
        if call is None:
            return await self._refuse(send, method, path, "the worker level never makes this call")
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        first = {k: v for k, v in reversed(query)}  # the engine reads a flag's first value
        try:
            verdict = await self.policy.decide(call, first, raw)
        except httpx.HTTPError as exc:
            log.warning("engine unreachable deciding %s %r: %s", method, path, type(exc).__name__)
            return await _answer(send, 502, "healer docker proxy: the engine did not answer")
        if verdict.refusal is not None:
            return await self._refuse(send, method, path, verdict.refusal)
        path = call.naming(verdict.target) if verdict.target else call.path
        url = path + ("?" + urlencode(query) if query else "")
        await self._forward(method, url, verdict.body, streams(call, first), receive, send)
        return None

    async def _refuse(
        self, send: Send, method: str, path: str, reason: str, status: int = 403
    ) -> None:
        log.warning("refused %s %r: %s", method, path, reason)
        await _answer(send, status, f"healer docker proxy: {reason}")

    async def _forward(
        self, method: str, url: str, body: bytes, stream: bool, receive: Receive, send: Send
    ) -> None:
        headers = {"content-type": "application/json"} if body else {}
        request = self.client.build_request(method, url, content=body, headers=headers)
        try:
            upstream = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("engine unreachable for %s %r: %s", method, url, type(exc).__name__)
            return await _answer(send, 502, "healer docker proxy: the engine did not answer")
        try:
            out = [(k, v) for k, v in upstream.headers.raw if k.decode().lower() not in _HOP]
            if stream:
                await _start(send, upstream.status_code, out)
                await _relay(upstream, receive, send)
                return None
            # A bounded answer goes out whole, with its length, in one body message: no
            # chunked terminator for the client to wait for in a segment of its own.
            body = await upstream.aread()
            out = [(k, v) for k, v in out if k.lower() != b"content-length"]
            await _start(send, upstream.status_code, [*out, (b"content-length", b"%d" % len(body))])
            await send({"type": "http.response.body", "body": body})
        finally:
            await upstream.aclose()
        return None


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


def streams(call: Call, query: dict[str, str]) -> bool:
    """The answers that do not end on their own: the event stream, and stats unless
    `stream=false` (Docker's default is a stream)."""
    if call.path.endswith("/events"):
        return True
    return call.path.endswith("/stats") and truthy(query.get("stream", "1"))


async def _relay(upstream: httpx.Response, receive: Receive, send: Send) -> None:
    """Copy the answer until it ends or the client leaves, whichever comes first."""

    async def copy() -> None:
        async for chunk in upstream.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(copy()), asyncio.ensure_future(gone())]
    _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.info("stream ended: %s", type(task.exception()).__name__)
