"""One way to open Redis, tuned so a restarted Redis, or a master that Sentinel replaced, is
survived without operator help. Every healer client of Redis is built here."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from healer.adapters.redisha.target import RedisTarget
from healer.settings import Settings

Redis = redis.Redis

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
        return redis.Redis.from_url(t.url, **options)
    return sentinel(t).master_for(
        t.master, db=t.db, username=t.username, password=t.password, **options
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
            t.master, db=t.db, password=t.password, socket_connect_timeout=timeout
        )
    else:
        client = redis.Redis.from_url(t.url, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
