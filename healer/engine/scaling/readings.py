"""Measure every metric a service scales on, each from its own source, into `Reading`s.

cpu/memory come from the probe's sampler, `queue` from the healer's own Redis or the
application's broker (`healer.scale.broker`), `prometheus` from HEALER_PROMETHEUS_URL. A
source that fails gives a missing reading with the reason among the warnings: the decision
then never goes below the current count (core.scale_policy.recommend_all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from healer.adapters.scaling.prometheus import QueryError
from healer.adapters.scaling.queue_depth import QueueDepth
from healer.core.model import ContainerView, HostId
from healer.core.queues import QUEUES, host_queue
from healer.core.scaling.labels import ScaleConfig
from healer.core.scaling.metric_labels import MetricConfig
from healer.core.scaling.policy import Metric, Observation, Reading, ScaleSpec, ceiling_load

MetricSource = Callable[[Metric, Sequence[ContainerView]], float | None]
"""cpu/memory: mean utilisation (fraction of the limit) over the service's running
containers, or None when it could not be measured."""


class Depth(Protocol):
    def measure(self, queues: Sequence[str], enough: float = ...) -> QueueDepth: ...


class Query(Protocol):
    def value(self, query: str) -> float: ...


@dataclass(frozen=True)
class Sensors:
    """Where each metric is read: `own_queues` is the healer's own Redis (None: not
    available), `broker` opens the application's broker a label names."""

    resources: MetricSource
    own_queues: Depth | None
    broker: Callable[[str], Depth]
    prometheus: Query | None
    host: HostId


@dataclass(frozen=True)
class Measured:
    readings: tuple[Reading, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def with_host_queues(queues: Sequence[str], host: HostId) -> tuple[str, ...]:
    """A healer queue named in `healer.scale.queues` (healer.probe, …) counts this host's own
    queue of that kind too: the healer's worker service is scaled by the work of its host."""
    out = list(queues)
    out += [host_queue(q, host) for q in queues if q in QUEUES and host_queue(q, host) not in out]
    return tuple(out)


def measure(
    sensors: Sensors, containers: Sequence[ContainerView], cfg: ScaleConfig, replicas: int
) -> Measured:
    readings: list[Reading] = []
    facts: dict[str, Any] = {}
    warnings: list[str] = []
    for m in cfg.metrics:
        value, in_flight, fact, warns = _one(sensors, containers, cfg.spec, m)
        obs = Observation(replicas, value, in_flight)
        readings.append(Reading(m.metric, m.target, obs, m.activation))
        facts.update(fact)
        warnings += warns
    return Measured(tuple(readings), facts, tuple(warnings))


_Raw = tuple[float | None, int, dict[str, Any], tuple[str, ...]]


def _one(
    sensors: Sensors, containers: Sequence[ContainerView], spec: ScaleSpec, m: MetricConfig
) -> _Raw:
    if not m.usable:
        return None, 0, {m.metric: None}, (f"{m.metric}: not configured (see problems)",)
    try:
        if m.metric == "queue":
            return _queue(sensors, spec, m)
        if m.metric == "prometheus":
            return _prometheus(sensors, m)
        value = sensors.resources(m.metric, containers)
    except QueryError as exc:
        return None, 0, {"prometheus": None}, (f"prometheus query failed: {exc}",)
    except Exception as exc:  # a source must not stop the cycle: the metric is missing
        return None, 0, {m.metric: None}, (f"{m.metric} source failed: {exc}",)
    return value, 0, {m.metric: value}, ()


def _prometheus(sensors: Sensors, m: MetricConfig) -> _Raw:
    if sensors.prometheus is None:
        why = "HEALER_PROMETHEUS_URL is not set"
        return None, 0, {"prometheus": None}, (f"prometheus metric held: {why}",)
    value = sensors.prometheus.value(m.query)
    return value, 0, {"prometheus": value}, ()


def _queue(sensors: Sensors, spec: ScaleSpec, m: MetricConfig) -> _Raw:
    if m.broker:
        source: Depth | None = sensors.broker(m.broker)
        queues = m.queues
    else:
        source, queues = sensors.own_queues, with_host_queues(m.queues, sensors.host)
    if source is None:
        return None, 0, {"queues": {}}, ("no queues to measure",)
    target = m.target if m.target is not None else spec.target
    enough = ceiling_load(spec) if target is None else target * spec.max_replicas
    depth = source.measure(queues, enough)
    facts: dict[str, Any] = {
        "backlog": depth.backlog,
        "reserved": depth.reserved if depth.inspected else None,
        "active": depth.active if depth.inspected else None,
        "queues": depth.per_queue,
    }
    if m.broker:
        facts["broker"] = m.broker  # a URL without a secret, or env:NAME
    return float(depth.backlog), depth.in_flight, facts, depth.warnings
