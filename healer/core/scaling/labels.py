"""A service's autoscaling settings from its `healer.scale.*` labels, parsed without I/O.

A service is autoscaled when it names a metric (`healer.scale.metric` or `.metrics`) or a ceiling
(`healer.scale.max`), or when it is the healer's own worker (`healer.role=worker`, scaled on
the healer's queues). A bad value never raises: it is reported in `problems`, naming the label
and the value, and the default stays in force.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from healer.core.duration.parse import parse_duration
from healer.core.queues import QUEUES
from healer.core.scaling.behavior_labels import KEYS as BEHAVIOR_KEYS
from healer.core.scaling.behavior_labels import behavior
from healer.core.scaling.metric_labels import (
    DEFAULT_QUEUE_TARGET as DEFAULT_QUEUE_TARGET,
)
from healer.core.scaling.metric_labels import (
    MetricConfig,
    known_keys,
    metric_config,
    metric_names,
)
from healer.core.scaling.policy import TOTAL_METRICS, Metric, ScaleSpec

PREFIX = "healer.scale."
ROLE_LABEL = "healer.role"
WORKER_ROLE = "worker"
# The healer's own worker service scales on its own queues unless its labels say otherwise.
HEALER_QUEUES = QUEUES

Drain = Literal["celery", "none"]
KNOWN = (
    "min",
    "max",
    "metric",
    "up_threshold",
    "down_threshold",
    "window",
    "cooldown",
    "drain",
    "shared_storage",  # read by replica_spec: replicas may share writable mounts
    "alert_down",  # read by the alert intake: alerts may scale the service down
)
ALL_KEYS = frozenset(KNOWN) | known_keys() | frozenset(BEHAVIOR_KEYS)


@dataclass(frozen=True)
class ScaleConfig:
    """What the scaler needs about one service; `enabled` is False when it is not autoscaled
    (its `spec` still carries the replica bounds `healer scale` must respect). `metrics` are
    the metrics it scales on (the largest recommendation wins); `spec.metric`/`spec.target`
    are the first one's."""

    enabled: bool
    spec: ScaleSpec
    queues: tuple[str, ...] = ()
    drain: Drain = "none"
    problems: tuple[str, ...] = field(default=())
    metrics: tuple[MetricConfig, ...] = ()

    @property
    def queue_metric(self) -> MetricConfig | None:
        return next((m for m in self.metrics if m.metric == "queue"), None)


def wants_autoscaling(labels: Mapping[str, str]) -> bool:
    return (
        PREFIX + "metric" in labels
        or PREFIX + "metrics" in labels
        or PREFIX + "max" in labels
        or labels.get(ROLE_LABEL, "").strip() == WORKER_ROLE
    )


def parse_scale_labels(
    labels: Mapping[str, str],
    *,
    min_replicas: int = 1,
    max_replicas: int = 5,
    cap: int | None = None,
) -> ScaleConfig:
    """Parse the labels; `min_replicas`/`max_replicas` are the env defaults (MIN/MAX_REPLICAS)."""
    problems: list[str] = []
    try:
        config = _parse(labels, min_replicas, max_replicas, problems)
        return config if cap is None else _capped(config, cap)
    except Exception as exc:  # a parser bug must not take a scaler cycle down
        problems.append(f"scale labels could not be parsed ({exc!r}); autoscaling off")
        return ScaleConfig(False, ScaleSpec(), problems=tuple(problems))


def _parse(
    labels: Mapping[str, str], env_min: int, env_max: int, problems: list[str]
) -> ScaleConfig:
    own = {k[len(PREFIX) :]: v for k, v in labels.items() if k.startswith(PREFIX)}
    for name in sorted(set(own) - ALL_KEYS):
        problems.append(f"label {PREFIX}{name} is unknown (see the autoscaling labels); ignored")
    worker = labels.get(ROLE_LABEL, "").strip() == WORKER_ROLE
    names = metric_names(own, "queue" if worker else "cpu", problems)
    wq = HEALER_QUEUES if worker else ()
    metrics = tuple(metric_config(own, m, len(names) == 1, wq, problems) for m in names)
    first = metrics[0]
    kw: dict[str, Any] = {"metric": first.metric}
    if first.target is not None:
        kw["target"] = first.target
    elif first.metric in TOTAL_METRICS:  # unusable: keep the spec valid, the metric is held
        kw["metric"] = "cpu"
    kw.update(_bounds(own, env_min, env_max, metrics, worker, problems))
    kw.update(_thresholds(own, names, problems))
    kw.update(_durations(own, problems))
    kw.update(behavior(own, problems))
    queue = next((m for m in metrics if m.metric == "queue"), None)
    drain = _drain(own.get("drain"), queue is not None, problems)
    spec = _spec(kw, problems)
    queues = queue.queues if queue else ()
    return ScaleConfig(wants_autoscaling(labels), spec, queues, drain, tuple(problems), metrics)


def _label(name: str, value: str) -> str:
    return f"label {PREFIX}{name}={value!r}"


def _int(name: str, value: str, problems: list[str]) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        problems.append(f"{_label(name, value)} is not a whole number; default used")
        return None


def _capped(config: ScaleConfig, cap: int) -> ScaleConfig:
    """HEALER_MAX_REPLICAS_CAP wins over every label: bounds above it are lowered to it."""
    spec = config.spec
    if spec.max_replicas <= cap:
        return config
    problem = (
        f"healer.scale.max ({spec.max_replicas}) is above HEALER_MAX_REPLICAS_CAP ({cap}); "
        f"capped at {cap}"
    )
    lo = min(spec.min_replicas, cap)
    new_spec = replace(spec, min_replicas=lo, max_replicas=cap)
    return replace(config, spec=new_spec, problems=(*config.problems, problem))


def _bounds(
    own: Mapping[str, str],
    env_min: int,
    env_max: int,
    metrics: tuple[MetricConfig, ...],
    worker: bool,
    problems: list[str],
) -> dict[str, int]:
    # Zero needs a metric that still reads with no replica running (a queue or a query):
    # the cpu of no container cannot wake a service. The healer's own worker runs the scaler.
    can_zero = not worker and any(m.metric in TOTAL_METRICS for m in metrics)
    floor = 0 if can_zero else 1
    default_lo = max(floor, min(env_min, env_max))
    default_hi = max(default_lo, env_max, 1)
    lo = _bound("min", own.get("min"), default_lo, floor, problems)
    hi = _bound("max", own.get("max"), default_hi, 1, problems)
    if lo > hi:
        problems.append(
            f"healer.scale.min ({lo}) is above healer.scale.max ({hi}); "
            f"defaults {default_lo}-{default_hi} used"
        )
        return {"min_replicas": default_lo, "max_replicas": default_hi}
    return {"min_replicas": lo, "max_replicas": hi}


def _bound(name: str, value: str | None, default: int, floor: int, problems: list[str]) -> int:
    if value is None:
        return default
    n = _int(name, value, problems)
    if n is None:
        return default
    if n < floor:
        why = (
            "scale to zero needs a queue or prometheus metric (and is not for the healer's "
            "own worker)"
            if n == 0
            else f"must be >= {floor}"
        )
        problems.append(f"{_label(name, value)}: {why}; {default} used")
        return default
    return n


def _fraction(name: str, value: str, problems: list[str]) -> float | None:
    """`0.8` or `80%` → 0.8. A bare number above 1 is refused: `80` almost surely means 80 %,
    and reading it as 8000 % would silently never scale."""
    text = value.strip()
    percent = text.endswith("%")
    try:
        number = float(text[:-1] if percent else text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        problems.append(f"{_label(name, value)} is not a number > 0 (e.g. 0.8 or 80%)")
        return None
    if percent:
        return number / 100
    if number > 1:
        problems.append(
            f"{_label(name, value)} reads as {number * 100:g} %; write {number / 100:g} or "
            f"{number:g}% — default used"
        )
        return None
    return number


def _thresholds(
    own: Mapping[str, str], metrics: Sequence[Metric], problems: list[str]
) -> dict[str, float]:
    given = {k: own[k] for k in ("up_threshold", "down_threshold") if k in own}
    if given and not {"cpu", "memory"} & set(metrics):
        names = ", ".join(PREFIX + k for k in given)
        problems.append(f"{names} ignored: only cpu/memory without a target use thresholds")
        return {}
    out: dict[str, float] = {}
    for name, value in given.items():
        parsed = _fraction(name, value, problems)
        if parsed is not None:
            out[name] = parsed
    spec = ScaleSpec()
    up = out.get("up_threshold", spec.up_threshold)
    down = out.get("down_threshold", spec.down_threshold)
    if down >= up:
        problems.append(
            f"healer.scale.down_threshold ({down:g}) must be below healer.scale.up_threshold "
            f"({up:g}); defaults {spec.down_threshold:g}/{spec.up_threshold:g} used"
        )
        return {}
    return out


def _durations(own: Mapping[str, str], problems: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, field_name in (("window", "stabilization_window_s"), ("cooldown", "cooldown_s")):
        value = own.get(name)
        if value is None:
            continue
        try:
            seconds = parse_duration(value)
        except ValueError:
            seconds = -1.0
        if seconds < 0:
            problems.append(f"{_label(name, value)} is not seconds >= 0 (e.g. 300, 90s, 5m)")
            continue
        out[field_name] = seconds
    return out


def _drain(value: str | None, queue: bool, problems: list[str]) -> Drain:
    # A queue-scaled service is a Celery worker: removing one without draining it would
    # cut its running tasks short (they are redelivered, but only after the visibility timeout).
    default: Drain = "celery" if queue else "none"
    if value is None:
        return default
    v = value.strip().lower()
    if v == "celery":
        return "celery"
    if v in ("none", "false", "no"):
        return "none"
    problems.append(f"{_label('drain', value)} is not celery or none; {default} used")
    return default


def _spec(kw: dict[str, Any], problems: list[str]) -> ScaleSpec:
    try:
        return ScaleSpec(**kw)
    except ValueError as exc:
        # Each field was checked above; this only catches a combination they missed.
        problems.append(f"{exc}; scaling defaults used")
    keep = ("min_replicas", "max_replicas", "metric", "target")
    bounds = {k: kw[k] for k in keep if k in kw}
    try:
        return ScaleSpec(**bounds)
    except ValueError:
        return ScaleSpec()
