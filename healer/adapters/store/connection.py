"""One way to open Redis, tuned so a restarted Redis, or a master that Sentinel replaced, is
survived without operator help. Every healer client of Redis is built here.

This is also the store boundary: a Redis that cannot be reached surfaces as
`StoreUnavailable`, the healer's own "unavailable" kind (healer.errors), wherever a store
talks to it."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from healer.adapters.redisha.target import RedisTarget
from healer.errors import Unavailable
from healer.settings import Settings

Redis = redis.Redis

_LOST = (redis.ConnectionError, redis.TimeoutError)


# redis-py is read as untyped here (pyproject's mypy overrides), so its classes are Any.
class StoreUnavailable(Unavailable, redis.ConnectionError):  # type: ignore[misc]
    """Redis did not answer, after the client's own retries. Still a redis.ConnectionError, so
    Celery's autoretry and every `except redis.RedisError` keep treating it as a lost Redis."""

    public = "Redis unavailable"


def _unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"Redis unavailable: {exc}")


class _Pipeline(Pipeline):  # type: ignore[misc]
    def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            results: list[Any] = super().execute(raise_on_error)
            return results
        except StoreUnavailable:
            raise
        except _LOST as exc:
            raise _unavailable(exc) from exc

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().immediate_execute_command(*args, **options)
        except StoreUnavailable:
            raise
        except _LOST as exc:
            raise _unavailable(exc) from exc


class StoreClient(redis.Redis):  # type: ignore[misc]
    """redis.Redis whose lost-connection errors say "unavailable" in the healer's terms."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute_command(*args, **options)
        except StoreUnavailable:
            raise
        except _LOST as exc:
            raise _unavailable(exc) from exc

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> _Pipeline:
        return _Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


# A failover takes the sentinels' down-after plus an election (seconds): a client of a
# Sentinel master retries for about as long (0.05 s doubling to 2 s, ten times: ~12 s),
# asking the sentinels for the master again on every reconnect.
_RETRIES_ONE = 5
_RETRIES_SENTINEL = 10


def target(s: Settings) -> RedisTarget:
    """The Redis the settings name, with the Sentinel options every client needs."""
    password = s.sentinel_password.get_secret_value() if s.sentinel_password else None
    return RedisTarget(
        url=s.redis_url,
        master=s.sentinel_master,
        sentinel_password=password,
        wait_replicas=s.wait_replicas,
        wait_timeout=s.redis_wait_timeout,
    )


def connect(where: str | RedisTarget) -> redis.Redis:
    """A client of the Redis at `where` (a URL, or a target that may be a Sentinel master)."""
    t = where if isinstance(where, RedisTarget) else RedisTarget(where)
    retries = _RETRIES_SENTINEL if t.is_sentinel else _RETRIES_ONE
    # Retries with backoff ride out a Redis restart; health checks drop dead pooled sockets.
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=retries),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }
    if not t.is_sentinel:
        return StoreClient.from_url(t.url, **options)
    return sentinel(t).master_for(
        t.master,
        redis_class=StoreClient,
        db=t.db,
        username=t.username,
        password=t.password,
        **options,
    )


def sentinel(t: RedisTarget) -> Sentinel:
    return Sentinel(t.sentinels, sentinel_kwargs=t.sentinel_kwargs())


def master_address(client: redis.Redis) -> str:
    """`host:port` of the Redis this client writes to (for Sentinel: the master it found)."""
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        host, port = pool.get_master_address()
        return f"{host}:{port}"
    kw = pool.connection_kwargs
    return str(kw.get("path") or f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}")


def ping(where: str | RedisTarget, timeout: float = 3) -> None:
    """One quick round trip, no retries: `healer check` wants a fast, clear answer."""
    t = where if isinstance(where, RedisTarget) else RedisTarget(where)
    if t.is_sentinel:
        client = sentinel(t).master_for(
            t.master,
            db=t.db,
            username=t.username,
            password=t.password,
            socket_connect_timeout=timeout,
        )
    else:
        client = redis.Redis.from_url(t.url, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
