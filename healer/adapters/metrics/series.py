"""Prometheus series derived from Redis at scrape time.

Workers run as prefork children on many hosts; per-process registries would split or lose
counts. Instead every process writes counts to Redis (adapters.counters, RedisHistogram)
and the API's collector turns the shared state into series on each scrape. Every series
carries `host`: the Docker host its service or engine belongs to; the shared queues (any
host's worker takes their tasks) are labelled SHARED_HOST.
"""

from __future__ import annotations

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

from healer.adapters.metrics.counters import Counters
from healer.adapters.redisha.failover import redis_series
from healer.adapters.store import keys
from healer.adapters.store.boot import boot_series
from healer.adapters.store.hosts import HostRegistry
from healer.adapters.store.state import read_snapshots
from healer.core import model
from healer.core.hosts import SHARED_HOST, HostState, HostStatus
from healer.core.model import HealthStatus, HostId
from healer.core.queues import QUEUES, host_queue

ROLES = ("worker", "beat", "events", "api")
REPAIR_ACTIONS = tuple(a.value for a in model.REPAIR_ACTIONS)
# A Celery worker sends an event heartbeat every ~2 s; missing several means offline.
WORKER_FRESH = 15.0
# The container health values healer_container_healthy reports (Docker's own words).
PASS_FAIL = frozenset({HealthStatus.HEALTHY.value, HealthStatus.UNHEALTHY.value})

# Gauges of the resource sampler: kind → (name, help). The network rate is deprecated (rate
# the counter healer_container_network_errors_total instead) and kept for one release.
RESOURCE_GAUGES = {
    "cpu": ("healer_container_cpu_ratio", "Container CPU use (ratio of its limit)"),
    "memory": ("healer_container_memory_ratio", "Container memory use (ratio of its limit)"),
    "network": (
        "healer_container_network_errors_per_second",
        "Deprecated: network errors and drops per second; use "
        "rate(healer_container_network_errors_total)",
    ),
}

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def with_project(metric: Metric) -> Metric:
    """A `project` label beside every `service` (`project/service`), so the series join with
    cAdvisor's and Docker's `com.docker.compose.project` labels."""
    for i, sample in enumerate(metric.samples):
        service = sample.labels.get("service")
        if service is not None and "project" not in sample.labels:
            project = service.split("/", 1)[0] if "/" in service else ""
            labels = {**sample.labels, "project": project}
            metric.samples[i] = sample._replace(labels=labels)
    return metric


class RedisHistogram:
    """A histogram whose buckets live in one Redis hash (TTL METRIC_TTL, refreshed)."""

    def __init__(self, r: redis.Redis, name: str, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.r = r
        self.key = keys.histogram(name)
        self.buckets = buckets

    def observe(self, value: float, label: str = "", host: str = "") -> None:
        # The host is the label's first part: `read` hands back "host|label".
        label = f"{host}|{label}" if host else label
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
    """Series for every host the registry knows (plus `local`, the API's own host, which
    may not have heartbeated yet)."""

    def __init__(self, r: redis.Redis, hosts: HostRegistry, local: HostId) -> None:
        self.r = r
        self.registry = hosts
        self.local = local
        self.counters = Counters(r, local)

    def collect(self) -> Iterator[Metric]:
        for metric in self._collect():
            yield with_project(metric)

    def _collect(self) -> Iterator[Metric]:
        states = self.registry.states()
        hosts = sorted(set(states) | {self.local})
        snaps = {h: read_snapshots(self.r, h) for h in hosts}
        yield from self._host_series(states)
        yield self._repairs(snaps)
        yield from self._service_series(snaps)
        yield from self._container_series(snaps, hosts)
        yield from self._healer_series(hosts)
        yield from self._histograms()
        yield from boot_series(self.r)
        yield from redis_series(self.r)

    def _host_series(self, states: dict[HostId, HostStatus]) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "healer_host_up",
            "1 while the host's agent heartbeats, 0 once it is host_down",
            labels=["host"],
        )
        last = GaugeMetricFamily(
            "healer_host_last_heartbeat_timestamp_seconds",
            "Unix time of the host agent's last heartbeat",
            labels=["host"],
        )
        for host, st in states.items():
            up.add_metric([host], 1.0 if st.state == HostState.UP else 0.0)
            last.add_metric([host], st.last_heartbeat)
        yield from (up, last)

    def _repairs(self, snaps: dict[HostId, dict[str, dict[str, object]]]) -> Metric:
        fam = CounterMetricFamily(
            "repair_attempts",
            "Repairs the healer carried out, by outcome",
            labels=["service", "action", "success", "host"],
        )
        counts = self.counters.repairs()
        # Known services start at zero so the first failure is an increase Prometheus sees.
        for host, by_sid in snaps.items():
            for sid in by_sid:
                for action in REPAIR_ACTIONS:
                    for ok in ("true", "false"):
                        counts.setdefault((host, sid, action, ok), 0)
        for (on, sid, action, ok), n in sorted(counts.items()):
            fam.add_metric([sid, action, ok, on], n)
        return fam

    def _service_series(
        self, snaps: dict[HostId, dict[str, dict[str, object]]]
    ) -> Iterator[Metric]:
        health = GaugeMetricFamily(
            "service_health_status",
            "1 for the service's current status",
            labels=["service", "status", "host"],
        )
        failures = GaugeMetricFamily(
            "service_failure_count", "Repairs in the current episode", labels=["service", "host"]
        )
        quarantined = GaugeMetricFamily(
            "healer_service_quarantined", "1 if quarantined", labels=["service", "host"]
        )
        cooldown = GaugeMetricFamily(
            "healer_cooldown_remaining_seconds",
            "Seconds before the next repair may act",
            labels=["service", "condition", "host"],
        )
        total_q = GaugeMetricFamily(
            "healer_quarantined_services", "Services in quarantine", labels=["host"]
        )
        for host, by_sid in snaps.items():
            for sid, s in by_sid.items():
                for st in HealthStatus:
                    current = 1.0 if s.get("status") == st.value else 0.0
                    health.add_metric([sid, st.value, host], current)
                attempts = float(s.get("attempts", 0) or 0)  # type: ignore[arg-type]
                failures.add_metric([sid, host], attempts)
                quarantined.add_metric([sid, host], 1.0 if s.get("quarantined") else 0.0)
                for cond, left in (s.get("cooldown_remaining") or {}).items():  # type: ignore[attr-defined]
                    cooldown.add_metric([sid, cond, host], float(left))
            n = sum(1 for s in by_sid.values() if s.get("quarantined"))
            total_q.add_metric([host], float(n))
        last = GaugeMetricFamily(
            "service_last_repair_timestamp",
            "Unix time of the last repair",
            labels=["service", "host"],
        )
        for (on, sid), ts in sorted(self.counters.last_repairs().items()):
            last.add_metric([sid, on], ts)
        yield from (health, failures, quarantined, cooldown, total_q, last)

    def _container_series(
        self, snaps: dict[HostId, dict[str, dict[str, object]]], hosts: list[HostId]
    ) -> Iterator[Metric]:
        labels = ["service", "container", "host"]
        up = GaugeMetricFamily(
            "healer_container_up", "1 if the container is running", labels=labels
        )
        healthy = GaugeMetricFamily(
            "healer_container_healthy",
            "1 if its healthcheck passes, 0 if it fails (none while it starts or without one)",
            labels=labels,
        )
        for host, by_sid in snaps.items():
            for sid, s in by_sid.items():
                for c in s.get("containers") or []:  # type: ignore[attr-defined]
                    running = 1.0 if c["state"] == "running" else 0.0
                    up.add_metric([sid, c["name"], host], running)
                    # Passing or failing only: a check still `starting` has not failed (a
                    # 0 there would fire ContainerUnhealthy on a slow start_period).
                    if c.get("health") in PASS_FAIL:
                        ok = 1.0 if c["health"] == "healthy" else 0.0
                        healthy.add_metric([sid, c["name"], host], ok)
        ratios: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            kind: GaugeMetricFamily(name, help_, labels=labels)
            for kind, (name, help_) in RESOURCE_GAUGES.items()
        }
        ratios["network_total"] = CounterMetricFamily(
            "healer_container_network_errors",
            "Network receive and transmit errors and drops of the container, since it started",
            labels=labels,
        )
        pipe = self.r.pipeline(transaction=False)
        for host in hosts:
            pipe.hgetall(keys.resource_ratios(host))
        for host, fields in zip(hosts, pipe.execute(), strict=True):
            for k, v in sorted(fields.items()):
                if k.count("|") < 2:
                    continue
                sid, name, kind = k.rsplit("|", 2)
                if kind in ratios:
                    ratios[kind].add_metric([sid, name, host], float(v))
        restarts = CounterMetricFamily(
            "healer_container_restarts",
            "Times the container died (from Docker events)",
            labels=labels,
        )
        # Deprecated: the same count as a gauge, under its old name, for one release.
        restarts_old = GaugeMetricFamily(
            "healer_container_restart_count",
            "Deprecated: use healer_container_restarts_total",
            labels=labels,
        )
        oom = GaugeMetricFamily(
            "healer_container_oom_killed",
            "1 if the container's last death was the OOM killer",
            labels=labels,
        )
        for k, v in sorted(self.r.hgetall(keys.CONTAINER_EVENTS).items()):
            # "kind|host|sid|container": the sid may hold `|`; the kind, host and container
            # name cannot. Fields from before hosts have no sid left here and are dropped.
            kind, _, rest = k.partition("|")
            host, _, rest = rest.partition("|")
            sid, _, name = rest.rpartition("|")
            if not sid:
                continue
            if kind == "restarts":
                restarts.add_metric([sid, name, host], float(v))
                restarts_old.add_metric([sid, name, host], float(v))
            else:
                oom.add_metric([sid, name, host], float(v))
        yield from (up, healthy, *ratios.values(), restarts, restarts_old, oom)

    def _healer_series(self, hosts: list[HostId]) -> Iterator[Metric]:
        beats = GaugeMetricFamily(
            "healer_heartbeat_timestamp_seconds",
            "Last heartbeat of each healer role on each host",
            labels=["role", "host"],
        )
        for (role, on), ts in sorted(self.counters.heartbeats(ROLES, hosts).items()):
            beats.add_metric([role, on], ts)
        decisions = CounterMetricFamily(
            "healer_decisions", "Decisions by outcome", labels=["service", "outcome", "host"]
        )
        for (on, sid, outcome), n in sorted(self.counters.decisions().items()):
            decisions.add_metric([sid, outcome, on], n)
        yield from (beats, decisions, self._queue_depth(hosts))
        now = time.time()
        online = GaugeMetricFamily(
            "healer_celery_workers_online",
            "Healer Celery workers that sent a heartbeat lately",
            labels=["host"],
        )
        fresh = self.r.zrangebyscore(keys.WORKERS, now - WORKER_FRESH, "+inf")
        per_host_online = {h: 0 for h in hosts}
        for member in fresh:
            name, sep, _ = str(member).partition("|")
            if sep:
                per_host_online[HostId(name)] = per_host_online.get(HostId(name), 0) + 1
        for host, n in sorted(per_host_online.items()):
            online.add_metric([host], float(n))
        in_flight = GaugeMetricFamily(
            "healer_repairs_in_flight", "Repairs acting right now", labels=["host"]
        )
        brake = GaugeMetricFamily(
            "healer_repair_storm_brake",
            "1 while the repair-storm brake slows unhealthy repairs to a trickle",
            labels=["host"],
        )
        unhealthy = GaugeMetricFamily(
            "healer_storm_unhealthy_services",
            "Services seen unhealthy within the storm window",
            labels=["host"],
        )
        evidence = GaugeMetricFamily(
            "healer_repair_storm_evidence",
            "1 for each kind of overload evidence that engaged the repair-storm brake",
            labels=["host", "evidence"],
        )
        pipe = self.r.pipeline(transaction=False)
        for host in hosts:
            pipe.zcount(keys.repair_slots(host), now, "+inf")
            pipe.exists(keys.storm_braked(host))
            pipe.zcard(keys.storm_unhealthy(host))
            pipe.get(keys.storm_evidence(host))
        answers = pipe.execute()
        for i, host in enumerate(hosts):
            n, braked, seen, kinds = answers[4 * i : 4 * i + 4]
            in_flight.add_metric([host], float(n))
            brake.add_metric([host], 1.0 if braked else 0.0)
            unhealthy.add_metric([host], float(seen))
            for kind in str(kinds or "").split(",") if braked else []:
                if kind:
                    evidence.add_metric([host, kind], 1.0)
        yield from (online, in_flight, brake, unhealthy, evidence, *self._scaling_series(hosts))

    def _queue_depth(self, hosts: list[HostId]) -> Metric:
        """`queue` is the kind (healer.repair, …) so dashboards read the same with one host
        or many; `host` says whose queue it is."""
        depth = GaugeMetricFamily("healer_queue_depth", "Celery backlog", labels=["queue", "host"])
        named = [(q, SHARED_HOST, q) for q in QUEUES]
        named += [(q, h, host_queue(q, h)) for h in hosts for q in QUEUES]
        pipe = self.r.pipeline(transaction=False)
        for _, _, name in named:
            pipe.llen(name)
        for (q, host, _), n in zip(named, pipe.execute(), strict=True):
            depth.add_metric([q, host], float(n))
        return depth

    def _scaling_series(self, hosts: list[HostId]) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "healer_scale_events", "Scale events", labels=["service", "direction", "host"]
        )
        for k, v in sorted(self.r.hgetall(keys.SCALE_EVENTS).items()):
            on, _, rest = k.partition("|")
            sid, _, direction = rest.rpartition("|")
            if sid:
                events.add_metric([sid, direction, on], float(v))
        replicas = GaugeMetricFamily(
            "healer_replicas", "Replicas by kind", labels=["service", "kind", "host"]
        )
        pipe = self.r.pipeline(transaction=False)
        for host in hosts:
            pipe.hgetall(keys.replicas(host))
        for host, fields in zip(hosts, pipe.execute(), strict=True):
            for k, v in sorted(fields.items()):
                sid, _, kind = k.rpartition("|")
                replicas.add_metric([sid, kind, host], float(v))
        freed = CounterMetricFamily(
            "healer_cleanup_freed_bytes", "Bytes freed by disk cleanup", labels=["host"]
        )
        freed_old = CounterMetricFamily(
            "healer_cleanup_bytes_freed",
            "Deprecated: use healer_cleanup_freed_bytes_total",
            labels=["host"],
        )
        by_host = self.r.hgetall(keys.CLEANUP_BYTES)
        for host in hosts:
            freed.add_metric([host], float(by_host.get(host, 0)))
            freed_old.add_metric([host], float(by_host.get(host, 0)))
        disk = GaugeMetricFamily(
            "healer_disk_used_ratio", "Used ratio of the watched disk", labels=["path", "host"]
        )
        for k, ratio in sorted(self.r.hgetall(keys.DISK_USAGE).items()):
            on, _, path = k.partition("|")
            if path:
                disk.add_metric([path, on], float(ratio))
        yield from (events, replicas, freed, freed_old, disk)

    def _histograms(self) -> Iterator[Metric]:
        for name, label_name, help_ in (
            ("healer_probe_duration_seconds", "scope", "Probe wall time"),
            ("healer_event_lag_seconds", None, "Docker event to probe start"),
        ):
            names = ["host", label_name] if label_name else ["host"]
            fam = HistogramMetricFamily(name, help_, labels=names)
            for label, (buckets, total) in RedisHistogram(self.r, name).read().items():
                on, sep, rest = label.partition("|")
                if not sep:
                    continue  # written before hosts
                fam.add_metric([on, rest] if label_name else [on], buckets, total)
            yield fam
