"""Writes behind the healer's own Prometheus series (the API's collector in adapters.metrics
reads them at scrape time). Keys and TTLs: the metrics section of adapters.keys. Every write
names this process's host, which the collector turns into the series' `host` label."""

from __future__ import annotations

from collections.abc import Mapping

import redis

from healer.adapters.metrics.series import RedisHistogram
from healer.adapters.store import keys
from healer.core.model import HostId

# A worker heartbeat older than this is dropped from the sorted set (it went away long ago).
WORKER_FORGET = 3600.0


class Telemetry:
    def __init__(self, r: redis.Redis, host: HostId) -> None:
        self.r = r
        self.host = host

    def observe(self, series: str, value: float, label: str = "") -> None:
        RedisHistogram(self.r, series).observe(value, label, host=self.host)

    def disk_usage(self, path: str, ratio: float, disk_interval: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.DISK_USAGE, f"{self.host}|{path}", repr(ratio))
        pipe.expire(keys.DISK_USAGE, keys.disk_usage_ttl(disk_interval))
        pipe.execute()

    def cleanup_freed(self, n_bytes: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(keys.CLEANUP_BYTES, self.host, n_bytes)
        pipe.expire(keys.CLEANUP_BYTES, keys.METRIC_TTL)
        pipe.execute()

    def resource_ratios(self, fields: Mapping[str, str], watchdog_interval: float) -> None:
        """Replace the ratios whole: containers gone since the last cycle drop out."""
        ttl = keys.snapshot_ttl(watchdog_interval)
        key = keys.resource_ratios(self.host)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(key)
        if fields:
            pipe.hset(key, mapping=dict(fields))
            pipe.expire(key, ttl)
        pipe.execute()

    def worker_alive(self, worker: str, now: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(keys.WORKERS, {f"{self.host}|{worker}": now})
        pipe.zremrangebyscore(keys.WORKERS, "-inf", now - WORKER_FORGET)
        pipe.expire(keys.WORKERS, keys.METRIC_TTL)
        pipe.execute()

    def container_event(self, action: str, sid: str, name: str) -> None:
        """Per-container deaths and OOM kills (the list call has neither)."""
        if action not in ("die", "oom", "start"):
            return
        pipe = self.r.pipeline(transaction=True)
        if action == "die":
            pipe.hincrby(keys.CONTAINER_EVENTS, f"restarts|{self.host}|{sid}|{name}", 1)
        else:
            field = f"oom|{self.host}|{sid}|{name}"
            pipe.hset(keys.CONTAINER_EVENTS, field, "1" if action == "oom" else "0")
        pipe.expire(keys.CONTAINER_EVENTS, keys.METRIC_TTL)
        pipe.execute()
