"""Prometheus series derived from Redis at scrape time.

Workers run as prefork children on many hosts; per-process registries would split or lose
counts. Instead every process writes counts to Redis (adapters.counters, RedisHistogram)
and the API's collector turns the shared state into series on each scrape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from healer.adapters import keys
from healer.adapters.boot_store import boot_series
from healer.adapters.counters import Counters
from healer.core import model
from healer.core.model import HealthStatus
from healer.core.queues import QUEUES

ROLES = ("worker", "beat", "events", "api")
REPAIR_ACTIONS = tuple(a.value for a in model.REPAIR_ACTIONS)
# A Celery worker sends an event heartbeat every ~2 s; missing several means offline.
WORKER_FRESH = 15.0

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RedisHistogram:
    """A histogram whose buckets live in one Redis hash (TTL METRIC_TTL, refreshed)."""

    def __init__(self, r: redis.Redis, name: str, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.r = r
        self.key = keys.histogram(name)
        self.buckets = buckets

    def observe(self, value: float, label: str = "") -> None:
        pipe = self.r.pipeline(transaction=True)
        for le in self.buckets:
            if value <= le:
                pipe.hincrby(self.key, f"{label}|{le}", 1)
        pipe.hincrby(self.key, f"{label}|+Inf", 1)
        pipe.hincrbyfloat(self.key, f"{label}|sum", value)
        pipe.expire(self.key, keys.METRIC_TTL)
        pipe.execute()

    def read(self) -> dict[str, tuple[list[tuple[str, float]], float]]:
        raw: dict[str, str] = self.r.hgetall(self.key)
        labels = {k.rsplit("|", 1)[0] for k in raw}
        out = {}
        for label in sorted(labels):
            buckets = [(str(le), float(raw.get(f"{label}|{le}", 0))) for le in self.buckets]
            buckets.append(("+Inf", float(raw.get(f"{label}|+Inf", 0))))
            out[label] = (buckets, float(raw.get(f"{label}|sum", 0)))
        return out


class HealerCollector(Collector):
    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.counters = Counters(r)

    def collect(self) -> Iterator[Metric]:
        snaps = self._snapshots()
        yield self._repairs(snaps)
        yield from self._service_series(snaps)
        yield from self._container_series(snaps)
        yield from self._healer_series()
        yield from self._histograms()
        yield from boot_series(self.r)

    def _snapshots(self) -> dict[str, dict[str, object]]:
        sids = sorted(self.r.smembers(keys.SNAPSHOTS))
        if not sids:
            return {}
        values = self.r.mget([keys.snapshot(s) for s in sids])
        return {s: json.loads(v) for s, v in zip(sids, values, strict=True) if v}

    def _repairs(self, snaps: dict[str, dict[str, object]]) -> Metric:
        fam = CounterMetricFamily(
            "repair_attempts",
            "Repairs the healer carried out, by outcome",
            labels=["service", "action", "success"],
        )
        counts = self.counters.repairs()
        # Known services start at zero so the first failure is an increase Prometheus sees.
        for sid in snaps:
            for action in REPAIR_ACTIONS:
                for ok in ("true", "false"):
                    counts.setdefault((sid, action, ok), 0)
        for (sid, action, ok), n in sorted(counts.items()):
            fam.add_metric([sid, action, ok], n)
        return fam

    def _service_series(self, snaps: dict[str, dict[str, object]]) -> Iterator[Metric]:
        health = GaugeMetricFamily(
            "service_health_status",
            "1 for the service's current status",
            labels=["service", "status"],
        )
        failures = GaugeMetricFamily(
            "service_failure_count", "Repairs in the current episode", labels=["service"]
        )
        quarantined = GaugeMetricFamily(
            "healer_service_quarantined", "1 if quarantined", labels=["service"]
        )
        cooldown = GaugeMetricFamily(
            "healer_cooldown_remaining_seconds",
            "Seconds before the next repair may act",
            labels=["service", "condition"],
        )
        for sid, s in snaps.items():
            for st in HealthStatus:
                health.add_metric([sid, st.value], 1.0 if s.get("status") == st.value else 0.0)
            failures.add_metric([sid], float(s.get("attempts", 0) or 0))  # type: ignore[arg-type]
            quarantined.add_metric([sid], 1.0 if s.get("quarantined") else 0.0)
            for cond, left in (s.get("cooldown_remaining") or {}).items():  # type: ignore[attr-defined]
                cooldown.add_metric([sid, cond], float(left))
        total_q = GaugeMetricFamily("healer_quarantined_services", "Services in quarantine")
        total_q.add_metric([], float(sum(1 for s in snaps.values() if s.get("quarantined"))))
        last = GaugeMetricFamily(
            "service_last_repair_timestamp", "Unix time of the last repair", labels=["service"]
        )
        for sid, ts in sorted(self.counters.last_repairs().items()):
            last.add_metric([sid], ts)
        yield from (health, failures, quarantined, cooldown, total_q, last)

    def _container_series(self, snaps: dict[str, dict[str, object]]) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "healer_container_up", "1 if the container is running", labels=["service", "container"]
        )
        healthy = GaugeMetricFamily(
            "healer_container_healthy",
            "1 if its healthcheck passes (containers with one)",
            labels=["service", "container"],
        )
        for sid, s in snaps.items():
            for c in s.get("containers") or []:  # type: ignore[attr-defined]
                up.add_metric([sid, c["name"]], 1.0 if c["state"] == "running" else 0.0)
                if c.get("health"):
                    healthy.add_metric([sid, c["name"]], 1.0 if c["health"] == "healthy" else 0.0)
        ratio_names = {
            "cpu": "healer_container_cpu_ratio",
            "memory": "healer_container_memory_ratio",
            "network": "healer_container_network_errors_per_second",
        }
        ratios = {
            kind: GaugeMetricFamily(
                name, f"Container {kind} use (ratio of its limit)", labels=["service", "container"]
            )
            for kind, name in ratio_names.items()
        }
        for k, v in sorted(self.r.hgetall(keys.RESOURCE_RATIOS).items()):
            if k.count("|") < 2:
                continue
            sid, name, kind = k.rsplit("|", 2)
            if kind in ratios:
                ratios[kind].add_metric([sid, name], float(v))
        restarts = GaugeMetricFamily(
            "healer_container_restart_count",
            "Times the container died (from Docker events)",
            labels=["service", "container"],
        )
        oom = GaugeMetricFamily(
            "healer_container_oom_killed",
            "1 if the container's last death was the OOM killer",
            labels=["service", "container"],
        )
        for k, v in sorted(self.r.hgetall(keys.CONTAINER_EVENTS).items()):
            # "kind|sid|container": the sid may hold `|`, the kind and container name cannot.
            kind, _, rest = k.partition("|")
            sid, _, name = rest.rpartition("|")
            (restarts if kind == "restarts" else oom).add_metric([sid, name], float(v))
        yield from (up, healthy, *ratios.values(), restarts, oom)

    def _healer_series(self) -> Iterator[Metric]:
        beats = GaugeMetricFamily(
            "healer_heartbeat_timestamp_seconds",
            "Last heartbeat of each healer role",
            labels=["role"],
        )
        for role, ts in self.counters.heartbeats(ROLES).items():
            beats.add_metric([role], ts)
        decisions = CounterMetricFamily(
            "healer_decisions", "Decisions by outcome", labels=["service", "outcome"]
        )
        for (sid, outcome), n in sorted(self.counters.decisions().items()):
            decisions.add_metric([sid, outcome], n)
        depth = GaugeMetricFamily("healer_queue_depth", "Celery backlog", labels=["queue"])
        pipe = self.r.pipeline(transaction=False)
        for q in QUEUES:
            pipe.llen(q)
        for q, n in zip(QUEUES, pipe.execute(), strict=True):
            depth.add_metric([q], float(n))
        online = GaugeMetricFamily(
            "healer_celery_workers_online", "Healer Celery workers that sent a heartbeat lately"
        )
        online.add_metric(
            [], float(self.r.zcount(keys.WORKERS, time.time() - WORKER_FRESH, "+inf"))
        )
        in_flight = GaugeMetricFamily("healer_repairs_in_flight", "Repairs acting right now")
        in_flight.add_metric([], float(self.r.zcount(keys.REPAIR_SLOTS, time.time(), "+inf")))
        brake = GaugeMetricFamily(
            "healer_repair_storm_brake",
            "1 while the repair-storm brake slows unhealthy repairs to a trickle",
        )
        brake.add_metric([], 1.0 if self.r.exists(keys.STORM_BRAKED) else 0.0)
        unhealthy = GaugeMetricFamily(
            "healer_storm_unhealthy_services",
            "Services seen unhealthy within the storm window",
        )
        unhealthy.add_metric([], float(self.r.zcard(keys.STORM_UNHEALTHY)))
        yield from (beats, decisions, depth, online, in_flight, brake, unhealthy)
        yield from self._scaling_series()

    def _scaling_series(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "healer_scale_events", "Scale events", labels=["service", "direction"]
        )
        for k, v in sorted(self.r.hgetall(keys.SCALE_EVENTS).items()):
            sid, _, direction = k.rpartition("|")
            events.add_metric([sid, direction], float(v))
        replicas = GaugeMetricFamily(
            "healer_replicas", "Replicas by kind", labels=["service", "kind"]
        )
        for k, v in sorted(self.r.hgetall(keys.REPLICAS).items()):
            sid, _, kind = k.rpartition("|")
            replicas.add_metric([sid, kind], float(v))
        freed = CounterMetricFamily("healer_cleanup_bytes_freed", "Bytes freed by disk cleanup")
        freed.add_metric([], float(self.r.get(keys.CLEANUP_BYTES) or 0))
        disk = GaugeMetricFamily(
            "healer_disk_used_ratio", "Used ratio of the watched disk", labels=["path"]
        )
        for path, ratio in sorted(self.r.hgetall(keys.DISK_USAGE).items()):
            disk.add_metric([path], float(ratio))
        yield from (events, replicas, freed, disk)

    def _histograms(self) -> Iterator[Metric]:
        for name, label_name, help_ in (
            ("healer_probe_duration_seconds", "scope", "Probe wall time"),
            ("healer_event_lag_seconds", None, "Docker event to probe start"),
        ):
            fam = HistogramMetricFamily(name, help_, labels=[label_name] if label_name else None)
            for label, (buckets, total) in RedisHistogram(self.r, name).read().items():
                fam.add_metric([label] if label_name else [], buckets, total)
            yield fam
