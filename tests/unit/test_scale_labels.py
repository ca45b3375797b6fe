"""healer.scale.* labels → ScaleConfig: defaults, every label, and every bad value reported
(naming label and value) with the default kept — never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.adapters.queue import make_celery
from healer.core.queues import QUEUES, host_queues
from healer.core.scaling.labels import (
    ALL_KEYS,
    DEFAULT_QUEUE_TARGET,
    HEALER_QUEUES,
    PREFIX,
    ScaleConfig,
    parse_scale_labels,
    wants_autoscaling,
)
from healer.core.scaling.policy import ScaleSpec
from healer.settings import Settings

DEFAULT = ScaleSpec()


def parse(min_replicas: int = 1, max_replicas: int = 5, /, **labels: str) -> ScaleConfig:
    return parse_scale_labels(
        {PREFIX + k: v for k, v in labels.items()},
        min_replicas=min_replicas,
        max_replicas=max_replicas,
    )


def test_unlabelled_service_is_not_autoscaled_but_carries_env_bounds() -> None:
    cfg = parse_scale_labels({"auto_repair": "true"}, min_replicas=2, max_replicas=7)
    assert not cfg.enabled
    assert (cfg.spec.min_replicas, cfg.spec.max_replicas) == (2, 7)
    assert cfg.problems == ()


@pytest.mark.parametrize(
    "labels",
    [{"healer.scale.metric": "cpu"}, {"healer.scale.max": "3"}, {"healer.role": "worker"}],
)
def test_metric_max_or_worker_role_enable_autoscaling(labels: dict[str, str]) -> None:
    assert wants_autoscaling(labels)
    assert parse_scale_labels(labels).enabled


def test_only_max_means_cpu_threshold_mode() -> None:
    cfg = parse(max="3")
    assert cfg.spec.metric == "cpu"
    assert cfg.spec.target is None
    assert cfg.spec.max_replicas == 3
    assert cfg.drain == "none"


def test_every_label_parsed() -> None:
    cfg = parse(
        min="2",
        max="6",
        metric="queue",
        queues="jobs, mail ,",
        target="25",
        window="3s",
        cooldown="1m",
        drain="none",
    )
    spec = cfg.spec
    assert cfg.problems == ()
    assert (spec.min_replicas, spec.max_replicas, spec.metric) == (2, 6, "queue")
    assert spec.target == 25
    assert (spec.stabilization_window_s, spec.cooldown_s) == (3, 60)
    assert cfg.queues == ("jobs", "mail")
    assert cfg.drain == "none"


def test_thresholds_as_fraction_or_percent() -> None:
    cfg = parse(metric="memory", up_threshold="75%", down_threshold="0.3")
    assert (cfg.spec.up_threshold, cfg.spec.down_threshold) == (0.75, 0.3)
    assert cfg.problems == ()
    assert parse(metric="cpu", target="60%").spec.target == 0.6


def test_queue_metric_defaults_target_and_celery_drain() -> None:
    cfg = parse(metric="queue", queues="jobs")
    assert cfg.spec.target == DEFAULT_QUEUE_TARGET
    assert cfg.drain == "celery"


def test_healer_worker_scales_on_its_own_queues_by_default() -> None:
    cfg = parse_scale_labels({"healer.role": "worker"})
    assert cfg.enabled
    assert cfg.spec.metric == "queue"
    assert cfg.queues == HEALER_QUEUES
    assert cfg.drain == "celery"
    assert HEALER_QUEUES == QUEUES
    # ...which are the queues the Celery app declares and the worker consumes, with this
    # host's own queue of each kind (the scaler counts those too: with_host_queues).
    settings = Settings(redis_url="redis://127.0.0.1:1/0", host="node-a")
    app = make_celery(settings)
    names = tuple(q.name for q in app.conf.task_queues)
    assert names == (*QUEUES, *host_queues(settings.host_id))


def test_env_defaults_apply_and_labels_override_them() -> None:
    assert parse(3, 9, metric="cpu").spec.min_replicas == 3
    assert parse(3, 9, metric="cpu").spec.max_replicas == 9
    assert parse(3, 9, metric="cpu", max="4").spec.max_replicas == 4


@pytest.mark.parametrize(
    ("labels", "needle"),
    [
        ({"min": "two"}, "healer.scale.min='two' is not a whole number"),
        ({"max": "-1"}, "healer.scale.max='-1'"),
        ({"min": "0"}, "scale to zero needs a queue or prometheus metric"),
        ({"metric": "gpu"}, "healer.scale.metric='gpu': 'gpu' is not one of cpu, memory, queue"),
        ({"metric": "cpu", "target": "abc"}, "healer.scale.target='abc'"),
        ({"metric": "cpu", "target": "60"}, "reads as 6000 %"),
        ({"metric": "cpu", "up_threshold": "80"}, "healer.scale.up_threshold='80' reads as 8000"),
        ({"metric": "cpu", "down_threshold": "nan"}, "healer.scale.down_threshold='nan'"),
        ({"metric": "queue", "queues": "q", "target": "0"}, "healer.scale.target='0'"),
        ({"window": "soon"}, "healer.scale.window='soon'"),
        ({"cooldown": "-5"}, "healer.scale.cooldown='-5'"),
        ({"drain": "maybe"}, "healer.scale.drain='maybe'"),
        ({"colour": "blue"}, "label healer.scale.colour is unknown"),
    ],
)
def test_bad_value_reported_and_default_kept(labels: dict[str, str], needle: str) -> None:
    cfg = parse(**labels)
    assert any(needle in p for p in cfg.problems), cfg.problems
    defaults = parse(**{k: v for k, v in labels.items() if k in ("metric", "queues")})
    assert cfg.spec == defaults.spec


def test_min_above_max_falls_back_to_env_bounds() -> None:
    cfg = parse(2, 5, min="6", max="3")
    assert (cfg.spec.min_replicas, cfg.spec.max_replicas) == (2, 5)
    assert any("min (6) is above healer.scale.max (3)" in p for p in cfg.problems)


def test_min_label_above_env_max_is_reported() -> None:
    cfg = parse(1, 5, min="8")
    assert (cfg.spec.min_replicas, cfg.spec.max_replicas) == (1, 5)
    assert cfg.problems


def test_crossed_thresholds_fall_back_to_both_defaults() -> None:
    cfg = parse(metric="cpu", up_threshold="0.1")
    assert (cfg.spec.up_threshold, cfg.spec.down_threshold) == (
        DEFAULT.up_threshold,
        DEFAULT.down_threshold,
    )
    assert any("must be below" in p for p in cfg.problems)


def test_thresholds_on_queue_metric_are_reported_as_ignored() -> None:
    cfg = parse(metric="queue", queues="q", up_threshold="0.9")
    assert any("ignored: only cpu/memory" in p for p in cfg.problems)


def test_queue_metric_without_queues_is_reported() -> None:
    cfg = parse(metric="queue")
    assert cfg.queues == ()
    assert any("needs healer.scale.queues" in p for p in cfg.problems)


def test_zero_env_minimum_is_raised_to_one() -> None:
    assert parse(0, 5, metric="cpu").spec.min_replicas == 1


def test_known_labels_are_documented_names() -> None:
    assert set(ALL_KEYS) >= {"min", "max", "metric", "metrics", "queues", "target", "query"}


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*(PREFIX + k for k in sorted(ALL_KEYS)), "healer.role", PREFIX + "x"]),
        st.text(max_size=12) | st.sampled_from(["0", "1", "80%", "queue", "worker", "1e309"]),
    ),
    st.integers(-3, 10),
    st.integers(-3, 10),
)
def test_never_raises_and_always_yields_a_valid_spec(
    labels: dict[str, str], lo: int, hi: int
) -> None:
    cfg = parse_scale_labels(labels, min_replicas=lo, max_replicas=hi)
    assert 0 <= cfg.spec.min_replicas <= cfg.spec.max_replicas
    if cfg.spec.min_replicas == 0:  # only a metric that reads with no replica can wake it
        assert any(m.metric in ("queue", "prometheus") for m in cfg.metrics)
    assert all(isinstance(p, str) and p for p in cfg.problems)
