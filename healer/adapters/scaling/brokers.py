"""Queue depth on an application's own Celery broker (`healer.scale.broker`).

The broker is named by a URL without a secret or by `env:NAME`, an environment variable of
the healer holding the URL with its password. Depth follows the broker's own semantics:

* Redis: every priority sub-list of each queue (`queue`, `queue\\x06\\x163`, ...), LLEN in one
  pipeline, exactly as for the healer's own broker (CeleryQueues).
* RabbitMQ (AMQP, through kombu): messages *ready* from a passive `queue.declare`, which any
  RabbitMQ answers without the management plugin. Messages *unacknowledged* are tasks the
  workers hold (prefetched or running); they are counted from the workers themselves over
  Celery's remote control on that broker (`inspect reserved/active`), as for Redis. Nothing
  assumes the management plugin.

The workers are drained over the same remote control. One source per broker URL is kept for
the life of the process (its connection pool is reused every cycle).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

import redis
from amqp.exceptions import NotFound
from celery import Celery
from kombu import Connection

from healer.adapters.scaling.queue_depth import CeleryQueues

REDIS_SCHEMES = ("redis", "rediss")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
_CONNECT_TIMEOUT = 3.0

_sources: dict[str, CeleryQueues] = {}
_lock = threading.Lock()


class BrokerError(Exception):
    """The broker cannot be named or reached; the message says which and why."""


def resolve(ref: str, environ: dict[str, str] | None = None) -> str:
    """`env:NAME` → the URL that variable holds; a URL → itself."""
    env = os.environ if environ is None else environ
    if ref.startswith("env:"):
        name = ref[4:].strip()
        url = env.get(name, "")
        if not url:
            raise BrokerError(f"healer.scale.broker={ref!r}: {name} is not set on the healer")
        return url
    return ref


def queue_source(ref: str, inspect_timeout: float = 1.0) -> CeleryQueues:
    """The (cached) depth-and-drain source of the broker `ref` names."""
    url = resolve(ref)
    with _lock:
        source = _sources.get(url)
        if source is None:
            source = _new_source(url, inspect_timeout)
            _sources[url] = source
        return source


def _new_source(url: str, inspect_timeout: float) -> CeleryQueues:
    scheme = urlsplit(url).scheme.lower()
    app = Celery("healer-broker", broker=url, set_as_current=False)
    app.conf.broker_connection_timeout = _CONNECT_TIMEOUT
    app.conf.broker_connection_retry_on_startup = False
    if scheme in REDIS_SCHEMES:
        r = redis.Redis.from_url(url, socket_timeout=_CONNECT_TIMEOUT, decode_responses=True)
        return CeleryQueues(r, app, inspect_timeout)
    if scheme in AMQP_SCHEMES:
        return AmqpQueues(url, app, inspect_timeout)
    raise BrokerError(f"broker scheme {scheme!r} is not redis, rediss, amqp or amqps")


class AmqpQueues(CeleryQueues):
    """CeleryQueues whose backlog is RabbitMQ's ready count (one queue per priority range).
    One connection is kept for the passive declares and opened again after any error."""

    def __init__(self, url: str, app: Celery, inspect_timeout: float = 1.0) -> None:
        self.url = url
        self.app = app
        self.inspect_timeout = inspect_timeout
        self.steps = (0,)
        self.prefix = ""
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def backlog(self, queues: Sequence[str]) -> dict[str, int]:
        with self._lock:
            try:
                conn = self._connection()
                return {q: _ready(conn, q) for q in queues}
            except Exception as exc:  # any broken connection: drop it, reconnect next time
                self._drop()
                raise BrokerError(f"RabbitMQ at {_safe(self.url)} unreachable: {exc}") from exc

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = Connection(self.url, connect_timeout=_CONNECT_TIMEOUT)
            conn.connect()
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.release()
        self._conn = None


def _ready(conn: Connection, queue: str) -> int:
    # A passive declare of a missing queue closes the channel (404): use one per queue.
    channel = conn.channel()
    try:
        _, ready, _ = channel.queue_declare(queue, passive=True)
        return int(ready)
    except NotFound:
        return 0  # no queue yet: nothing was ever sent to it
    finally:
        with contextlib.suppress(Exception):  # already closed by the 404
            channel.close()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
