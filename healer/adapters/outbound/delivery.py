"""Webhook and Apprise delivery on a background thread: a repair hands the message over and
goes on; the thread retries a failed delivery a bounded number of times with jittered
exponential backoff, then logs and drops it.

One thread per process, started on first use; its queue is bounded, so a dead receiver
costs at most that many messages in memory (the rest are dropped with a log line). A
message still queued when the process exits is lost: notifications are best effort.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from healer.adapters.outbound.signing import signed_headers

log = logging.getLogger("healer.notify")

QUEUE_SIZE = 1000
BASE_DELAY = 0.5  # seconds before the first retry; doubles each time, with full jitter
MAX_DELAY = 30.0


@dataclass(frozen=True)
class WebhookAuth:
    """What every outbound webhook carries: a signing key, a bearer token, extra headers."""

    secret: str = ""
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def headers_for(self, body: bytes, now: float | None = None) -> dict[str, str]:
        out = {"Content-Type": "application/json", **self.headers}
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        if self.secret:
            out |= signed_headers(self.secret, str(int(now or time.time())), body)
        return out


def redacted(url: str) -> str:
    """`https://hooks.slack.com/…`: a webhook URL's path and query are its credential (Slack,
    Teams, Discord all put the secret there), so a log names the scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def why(exc: BaseException) -> str:
    """What went wrong without the URL httpx puts into its messages."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def post_json(url: str, payload: dict[str, Any], auth: WebhookAuth, timeout: float) -> None:
    """One delivery attempt; raises on a transport error or a non-2xx answer."""
    body = json.dumps(payload, default=str).encode()
    httpx.post(
        url, content=body, headers=auth.headers_for(body), timeout=timeout
    ).raise_for_status()


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(MAX_DELAY, BASE_DELAY * 2**attempt)]."""
    return float(rand() * min(MAX_DELAY, BASE_DELAY * 2.0**attempt))


class Courier:
    """Runs delivery jobs on one daemon thread with bounded retries."""

    def __init__(self, retries: int, sleep: Callable[[float], None] = time.sleep) -> None:
        self.retries = retries
        self._sleep = sleep
        self._jobs: queue.Queue[tuple[str, Callable[[], None]]] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, what: str, job: Callable[[], None]) -> bool:
        """Hand `job` over without waiting; False (and a log line) when the queue is full."""
        self._start()
        try:
            self._jobs.put_nowait((what, job))
            return True
        except queue.Full:
            log.error("%s dropped: %d deliveries already waiting", what, QUEUE_SIZE)
            return False

    def drain(self, timeout: float) -> bool:
        """Wait until every handed-over job ended (tests, and a process that is stopping)."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._jobs.unfinished_tasks

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="healer-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            what, job = self._jobs.get()
            try:
                self.attempt(what, job)
            finally:
                self._jobs.task_done()

    def attempt(self, what: str, job: Callable[[], None]) -> bool:
        for attempt in range(self.retries + 1):
            try:
                job()
                return True
            except Exception as exc:  # httpx, Apprise or a plugin of it: never kill the thread
                if attempt == self.retries:
                    log.error("%s failed after %d attempts: %s", what, attempt + 1, why(exc))
                    return False
                self._sleep(backoff(attempt))
        return False
