"""Polling and port helpers shared by integration and e2e tests."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.1,
    message: str = "",
    *,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns something truthy and return that value (never
    None, so a predicate of ``X | None`` gives an ``X``).

    ``timeout`` and ``interval`` are seconds. Exceptions listed in ``ignore`` count as "not
    yet" (e.g. ``ConnectionError`` while a server starts); any other exception propagates.
    On timeout an AssertionError names ``message``, the last value and the last ignored error.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            last = result = predicate()
        except ignore as exc:
            error = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            detail = f"; last error: {error!r}" if error is not None else ""
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {message or repr(predicate)}"
                f" (last value: {last!r}{detail})"
            )
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1: each socket stays bound until all are
    picked, so the OS cannot hand out one port twice."""
    with contextlib.ExitStack() as stack:
        socks = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def wait_for_reconciles(redis_url: str, count: int = 2, timeout: float = 60.0) -> None:
    """Wait until `count` reconcile probes have finished from now on: the positive signal a
    test needs before asserting that a reconcile did NOT act (each `healer.probe.all` writes
    the worker heartbeat when it is done)."""
    import redis  # local: the helpers above need no Redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    start = time.time()
    seen: set[str] = set()

    def more() -> bool:
        # keys.heartbeat("worker", host) of every host: a test stack serves one.
        for key in client.scan_iter(match="healer:heartbeat:worker:*"):
            value = client.get(key)
            if value is not None and float(value) > start:
                seen.add(value)
        return len(seen) >= count

    try:
        wait_until(more, timeout=timeout, interval=0.05, message=f"{count} reconcile probes")
    finally:
        client.close()
