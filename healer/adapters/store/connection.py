"""One way to open Redis, tuned so a restarted Redis is survived without operator help."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

Redis = redis.Redis


def connect(url: str) -> redis.Redis:
    # Retries with backoff ride out a Redis restart; health checks drop dead pooled sockets.
    return redis.Redis.from_url(
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
