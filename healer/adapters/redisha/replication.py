"""Redis WAIT for the writes that must outlive a failover (the guard's claim, an accepted
request). Replication is asynchronous: a write the master acknowledged can die with it."""

from __future__ import annotations

import redis


def replicate(r: redis.Redis, key: str, ttl: float, replicas: int, timeout: float) -> int:
    """Block until `replicas` replicas hold every write made so far (the claim included), or
    `timeout` seconds pass; returns how many acknowledged. Redis's WAIT counts the writes of
    its own connection: re-touching the claim's key on the same pipelined connection first
    makes WAIT cover the claim, whichever pooled connection committed it."""
    with r.pipeline(transaction=False) as pipe:
        pipe.expire(key, int(ttl))
        pipe.execute_command("WAIT", replicas, max(1, int(timeout * 1000)))
        _, acks = pipe.execute()
    return int(acks)
