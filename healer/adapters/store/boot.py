"""Redis state of ordered recovery: which containers are meant to run, when the engine was
last seen alive, which projects are recovering, their status and metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from healer.adapters.store import keys
from healer.adapters.store.guard import Lock
from healer.core.model import ContainerId, HostId, ServiceId, ServiceView, split_service_id


class BootStore:
    """One host's recovery state: the intent, liveness and recoveries of its engine."""

    def __init__(self, r: redis.Redis, host: HostId) -> None:
        self.r = r
        self.host = host

    # --- intent: the containers meant to run ------------------------------------------

    def remember(self, views: Iterable[ServiceView]) -> None:
        """Refresh the intent from a full reconcile: running containers join it, containers
        gone from the engine leave it. One stopped by hand stays, marked as such by the
        events watcher, because an engine shutdown looks the same on the event stream (a
        `stop` per container): the restart check clears those marks, the recovery skips the
        containers still marked. Two round trips whatever the number of projects."""
        running: dict[str, dict[str, str]] = {}
        listed: dict[str, set[str]] = {}
        for view in views:
            project = split_service_id(view.sid)[0]
            for c in view.containers:
                listed.setdefault(project, set()).add(c.id)
                if c.state == "running":
                    running.setdefault(project, {})[c.id] = json.dumps({"sid": view.sid})
        known = self._hkeys(listed)
        pipe = self.r.pipeline(transaction=False)
        for project, ids in listed.items():
            gone = [cid for cid in known[project] if cid not in ids]
            if gone:
                pipe.hdel(keys.intent(self.host, project), *gone)
            if running.get(project):
                pipe.hset(keys.intent(self.host, project), mapping=running[project])
                pipe.expire(keys.intent(self.host, project), keys.BOOT_INTENT_TTL)
        pipe.execute()

    def _hkeys(self, projects: Iterable[str]) -> dict[str, list[str]]:
        names = list(projects)
        pipe = self.r.pipeline(transaction=False)
        for project in names:
            pipe.hkeys(keys.intent(self.host, project))
        return dict(zip(names, pipe.execute(), strict=True))

    def intended(self, project: str | None = None) -> dict[ContainerId, ServiceId]:
        """Container id → service id of the containers meant to run (one project or all)."""
        names = (
            [keys.intent(self.host, project)]
            if project
            else list(self.r.scan_iter(match=keys.intent_pattern(self.host), count=100))
        )
        out: dict[ContainerId, ServiceId] = {}
        for name in names:
            for cid, raw in self.r.hgetall(name).items():
                out[ContainerId(cid)] = ServiceId(json.loads(raw)["sid"])
        return out

    def meant_to_run(self, project: str) -> dict[ContainerId, ServiceId]:
        """The project's intent less the containers stopped by hand."""
        intended = self.intended(project)
        pipe = self.r.pipeline(transaction=False)
        for cid in intended:
            pipe.exists(keys.manual_stop(self.host, cid))
        marked = pipe.execute() if intended else []
        return {c: s for (c, s), m in zip(intended.items(), marked, strict=True) if not m}

    def stopped_by_the_engine(self, cids: Iterable[ContainerId]) -> None:
        """The `stop` events of an engine shutdown were not hand stops: unmark them."""
        names = [keys.manual_stop(self.host, c) for c in cids]
        if names:
            self.r.delete(*names)

    def project_lock(self, project: str, ttl: float) -> Lock:
        """One recovery per project: an owner-token lock, unheld."""
        return Lock(self.r, keys.boot_lock(self.host, project), ttl)

    # --- engine liveness ---------------------------------------------------------------

    def engine_alive(self, engine_time: float) -> None:
        self.r.set(keys.engine_alive(self.host), repr(engine_time), ex=keys.BOOT_INTENT_TTL)

    def last_alive(self) -> float | None:
        raw = self.r.get(keys.engine_alive(self.host))
        return float(raw) if raw else None

    # --- recoveries ----------------------------------------------------------------------

    def mark_booting(self, project: str, ttl: float) -> None:
        self.r.set(keys.booting(self.host, project), "1", ex=int(ttl))

    def booting(self, projects: Iterable[str]) -> frozenset[str]:
        names = sorted(set(projects))
        if not names:
            return frozenset()
        pipe = self.r.pipeline(transaction=False)
        for p in names:
            pipe.exists(keys.booting(self.host, p))
        return frozenset(p for p, on in zip(names, pipe.execute(), strict=True) if on)

    def finish(self, project: str, sids: Iterable[ServiceId]) -> None:
        """The recovery is over: the reconcile takes the project back. A dependency the
        reconcile saw down before the recovery began must not bounce its dependents now."""
        pipe = self.r.pipeline(transaction=False)
        pipe.delete(keys.booting(self.host, project))
        for sid in sids:
            pipe.delete(keys.was_down(self.host, sid))
        pipe.execute()

    def write_status(
        self, project: str, status: Mapping[str, object], running_ttl: float | None
    ) -> None:
        """``running_ttl``: while the recovery runs (its deadline); None once it ended."""
        ttl = int(running_ttl) if running_ttl is not None else keys.BOOT_STATUS_TTL
        pipe = self.r.pipeline(transaction=False)
        pipe.set(keys.boot_status(self.host, project), json.dumps(status), ex=ttl)
        pipe.sadd(keys.boot_statuses(self.host), project)
        pipe.expire(keys.boot_statuses(self.host), keys.BOOT_STATUS_TTL)
        pipe.execute()

    def statuses(self) -> dict[str, dict[str, Any]]:
        projects = sorted(self.r.smembers(keys.boot_statuses(self.host)))
        if not projects:
            return {}
        values = self.r.mget([keys.boot_status(self.host, p) for p in projects])
        return {p: json.loads(v) for p, v in zip(projects, values, strict=True) if v}

    # --- metrics -------------------------------------------------------------------------

    def _metric(self, field: str, value: float, *, incr: bool = False) -> None:
        pipe = self.r.pipeline(transaction=True)
        if incr:
            pipe.hincrbyfloat(keys.BOOT_METRICS, field, value)
        else:
            pipe.hset(keys.BOOT_METRICS, field, repr(value))
        pipe.expire(keys.BOOT_METRICS, keys.METRIC_TTL)
        pipe.execute()

    def running(self, project: str, on: bool) -> None:
        self._metric(f"running|{self.host}|{project}", 1.0 if on else 0.0)

    def duration(self, project: str, seconds: float) -> None:
        self._metric(f"duration|{self.host}|{project}", seconds)

    def timeout(self, project: str, service: str, blocker: str) -> None:
        self._metric(f"timeouts|{self.host}|{project}|{service}|{blocker}", 1.0, incr=True)


def boot_series(r: redis.Redis) -> Iterator[Metric]:
    """The recovery series for the API's collector."""
    duration = GaugeMetricFamily(
        "healer_boot_recovery_duration_seconds",
        "Seconds the last ordered recovery after an engine restart took, to every service "
        "good (or given up)",
        labels=["host", "project"],
    )
    running = GaugeMetricFamily(
        "healer_boot_recovery_in_progress",
        "1 while an ordered recovery of the project runs",
        labels=["host", "project"],
    )
    timeouts = CounterMetricFamily(
        "healer_boot_dependency_timeouts",
        "Dependency waits of an ordered recovery that timed out",
        labels=["host", "project", "service", "blocker"],
    )
    for field, value in sorted(r.hgetall(keys.BOOT_METRICS).items()):
        kind, _, rest = field.partition("|")
        host, _, rest = rest.partition("|")
        if not rest:
            continue  # written before hosts: no host to label it with
        if kind == "duration":
            duration.add_metric([host, rest], float(value))
        elif kind == "running":
            running.add_metric([host, rest], float(value))
        elif kind == "timeouts":
            project, service, blocker = rest.split("|", 2)
            timeouts.add_metric([host, project, service, blocker], float(value))
    yield from (duration, running, timeouts)
