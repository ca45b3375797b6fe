"""Writes behind the healer's own Prometheus series (the API's collector in adapters.metrics
reads them at scrape time). Keys and TTLs: the metrics section of adapters.keys."""

from __future__ import annotations

from collections.abc import Mapping

import redis

from healer.adapters import keys
from healer.adapters.metrics import RedisHistogram

# A worker heartbeat older than this is dropped from the sorted set (it went away long ago).
WORKER_FORGET = 3600.0


class Telemetry:
    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def observe(self, series: str, value: float, label: str = "") -> None:
        RedisHistogram(self.r, series).observe(value, label)

    def disk_usage(self, path: str, ratio: float, disk_interval: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.DISK_USAGE, path, repr(ratio))
        pipe.expire(keys.DISK_USAGE, keys.disk_usage_ttl(disk_interval))
        pipe.execute()

    def cleanup_freed(self, n_bytes: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.incrby(keys.CLEANUP_BYTES, n_bytes)
        pipe.expire(keys.CLEANUP_BYTES, keys.METRIC_TTL)
        pipe.execute()

    def resource_ratios(self, fields: Mapping[str, str], watchdog_interval: float) -> None:
        """Replace the ratios whole: containers gone since the last cycle drop out."""
        ttl = keys.snapshot_ttl(watchdog_interval)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.RESOURCE_RATIOS)
        if fields:
            pipe.hset(keys.RESOURCE_RATIOS, mapping=dict(fields))
            pipe.expire(keys.RESOURCE_RATIOS, ttl)
        pipe.execute()

    def worker_alive(self, worker: str, now: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(keys.WORKERS, {worker: now})
        pipe.zremrangebyscore(keys.WORKERS, "-inf", now - WORKER_FORGET)
        pipe.expire(keys.WORKERS, keys.METRIC_TTL)
        pipe.execute()

    def container_event(self, action: str, sid: str, name: str) -> None:
        """Per-container deaths and OOM kills (the list call has neither)."""
        if action not in ("die", "oom", "start"):
            return
        pipe = self.r.pipeline(transaction=True)
        if action == "die":
            pipe.hincrby(keys.CONTAINER_EVENTS, f"restarts|{sid}|{name}", 1)
        else:
            pipe.hset(keys.CONTAINER_EVENTS, f"oom|{sid}|{name}", "1" if action == "oom" else "0")
        pipe.expire(keys.CONTAINER_EVENTS, keys.METRIC_TTL)
        pipe.execute()
