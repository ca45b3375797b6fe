"""One way to open Redis, tuned so a restarted Redis is survived without operator help, and
the store boundary: a Redis that cannot be reached surfaces as `StoreUnavailable`, the
healer's own "unavailable" kind (healer.errors), wherever a store talks to it."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.retry import Retry

from healer.errors import Unavailable

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


class _StoreClient(redis.Redis):  # type: ignore[misc]
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


def connect(url: str) -> redis.Redis:
    # Retries with backoff ride out a Redis restart; health checks drop dead pooled sockets.
    return _StoreClient.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def ping(url: str, timeout: float = 3) -> None:
    """One quick round trip, no retries: `healer check` wants a fast, clear answer."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
