"""The metrics a service scales on, from its labels (several, as HPA v2 allows).

`healer.scale.metrics: cpu,queue` names several; `healer.scale.metric: queue` one (the old
form, still read). Each metric takes its own keys, `healer.scale.<metric>.<key>`:
`target`, `activation`, and `queues`/`broker` (queue) or `query` (prometheus). The same key
without the metric's name (`healer.scale.queues`) applies to every metric it fits; `target`
only when one metric is named (a cpu fraction and a queue length are not the same unit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from healer.core.scaling.policy import METRICS, TOTAL_METRICS, Metric

PREFIX = "healer.scale."
PER_METRIC_KEYS = ("target", "activation", "queues", "broker", "query")
# Tasks (waiting + in flight) one replica should carry when a queue service names no target:
# a few times a worker's usual concurrency, so one burst does not add a replica per task.
DEFAULT_QUEUE_TARGET = 10.0


@dataclass(frozen=True)
class MetricConfig:
    metric: Metric
    target: float | None = None  # None: cpu/memory on thresholds; unusable for the others
    activation: float = 0.0
    queues: tuple[str, ...] = ()
    broker: str = ""  # "" = the healer's own Redis; a URL or env:NAME
    query: str = ""

    @property
    def usable(self) -> bool:
        if self.metric in TOTAL_METRICS and self.target is None:
            return False
        if self.metric == "queue":
            return bool(self.queues) and self.broker != "invalid:"
        return self.metric != "prometheus" or bool(self.query)


def known_keys() -> set[str]:
    return {f"{m}.{k}" for m in METRICS for k in PER_METRIC_KEYS} | {"metrics", *PER_METRIC_KEYS}


def metric_names(own: Mapping[str, str], default: Metric, problems: list[str]) -> list[Metric]:
    text = own.get("metrics", own.get("metric"))
    key = "metrics" if "metrics" in own else "metric"
    if text is None:
        return [default]
    names: list[Metric] = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        match = [m for m in METRICS if m == part]
        if not match:
            problems.append(
                f"label {PREFIX}{key}={text!r}: {part!r} is not one of {', '.join(METRICS)}"
            )
        elif match[0] not in names:
            names.append(match[0])
    if not names:
        problems.append(f"label {PREFIX}{key}={text!r} names no metric; {default} used")
        return [default]
    return names


def metric_config(
    own: Mapping[str, str],
    metric: Metric,
    alone: bool,
    worker_queues: tuple[str, ...],
    problems: list[str],
) -> MetricConfig:
    def get(key: str) -> tuple[str, str | None]:
        name = f"{metric}.{key}"
        if name in own:
            return name, own[name]
        if key in own and (key != "target" or alone):
            return key, own[key]
        return name, None

    return MetricConfig(
        metric=metric,
        target=_target(metric, *get("target"), problems),
        activation=_activation(*get("activation"), problems),
        queues=_queues(metric, *get("queues"), worker_queues, problems),
        broker=_broker(metric, *get("broker"), problems),
        query=_query(metric, *get("query"), problems),
    )


def _label(name: str, value: str) -> str:
    return f"label {PREFIX}{name}={value!r}"


def _number(name: str, value: str, problems: list[str], what: str) -> float | None:
    try:
        number = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
    except ValueError:
        number = math.nan
    if math.isfinite(number) and number >= 0:
        return number
    problems.append(f"{_label(name, value)} is not {what}")
    return None


def _target(metric: Metric, name: str, value: str | None, problems: list[str]) -> float | None:
    default = DEFAULT_QUEUE_TARGET if metric == "queue" else None
    if value is None:
        if metric == "prometheus":
            problems.append(
                f"metric prometheus needs {PREFIX}prometheus.target (or "
                f"{PREFIX}target): its value per replica; not scaled on it"
            )
        return default
    parsed = _number(name, value, problems, "a number > 0")
    if parsed is None or parsed == 0:
        if parsed == 0:
            problems.append(f"{_label(name, value)} must be > 0")
        return default
    if metric in ("cpu", "memory") and parsed > 1:
        problems.append(
            f"{_label(name, value)} reads as {parsed * 100:g} %; write {parsed / 100:g} or "
            f"{parsed:g}% — thresholds used"
        )
        return None
    return parsed


def _activation(name: str, value: str | None, problems: list[str]) -> float:
    if value is None:
        return 0.0
    parsed = _number(name, value, problems, "a number >= 0; 0 used")
    return 0.0 if parsed is None else parsed


def _queues(
    metric: Metric,
    name: str,
    value: str | None,
    worker_queues: tuple[str, ...],
    problems: list[str],
) -> tuple[str, ...]:
    if metric != "queue":
        return ()
    names = tuple(q.strip() for q in (value or "").split(",") if q.strip())
    if names or worker_queues:
        return names or worker_queues
    problems.append(
        "metric=queue needs healer.scale.queues (comma list of Celery queues); "
        "the service is not scaled on it until it is set"
    )
    return ()


BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


def _broker(metric: Metric, name: str, value: str | None, problems: list[str]) -> str:
    """A URL with no password, or env:NAME; "" (the healer's own Redis) when wrong: a label
    is readable by anyone who can inspect the container, so it must not carry a secret."""
    text = (value or "").strip()
    if metric != "queue" or not text or (text.startswith("env:") and len(text) > 4):
        return text if metric == "queue" else ""
    parts = urlsplit(text)
    if parts.scheme.lower() not in BROKER_SCHEMES or not parts.hostname:
        problems.append(
            f"{_label(name, text)} is not a broker URL ({', '.join(BROKER_SCHEMES)}://host) "
            "or env:NAME; the queue metric is held"
        )
        return "invalid:"
    if parts.password:
        problems.append(
            f"{_label(name, '<redacted>')} carries a password: labels are readable by anyone "
            "who can inspect the container; put the URL in an env var of the healer and write "
            "env:NAME. The queue metric is held"
        )
        return "invalid:"
    return text


def _query(metric: Metric, name: str, value: str | None, problems: list[str]) -> str:
    if metric != "prometheus":
        return ""
    if not (value or "").strip():
        problems.append(f"metric prometheus needs {PREFIX}query (PromQL returning one number)")
        return ""
    return (value or "").strip()
