"""HPA behaviour labels, several metrics and scale to zero: the pure decisions."""

from __future__ import annotations

import pytest

from healer.core.scaling.labels import parse_scale_labels
from healer.core.scaling.policy import (
    Observation,
    Reading,
    ScaleSpec,
    decide,
    decide_readings,
    max_scale_up,
)
from healer.core.scaling.rate import RatePolicy, scale_down_floor, up_limit


def parse(**labels: str):  # type: ignore[no-untyped-def]
    return parse_scale_labels(
        {f"healer.scale.{k.replace('__', '.')}": v for k, v in labels.items()}
    )


# --- rate policies --------------------------------------------------------------------------


def test_default_policies_are_todays_double_or_plus_four() -> None:
    spec = ScaleSpec(max_replicas=50)
    assert [max_scale_up(spec, n) for n in (0, 1, 3, 4, 10)] == [4, 5, 7, 8, 20]


def test_pods_and_percent_policies_with_select() -> None:
    pols = (RatePolicy("pods", 1, 60), RatePolicy("percent", 50, 60))
    assert up_limit(pols, "max", 10, (), 0) == 15
    assert up_limit(pols, "min", 10, (), 0) == 11
    assert up_limit(pols, "disabled", 10, (), 0) == 10
    # Changes inside the period count against it: the start is before them.
    assert up_limit(pols, "max", 15, ((-30.0, 5),), 0) == 15
    assert up_limit(pols, "max", 15, ((-60.0, 5),), 0) == 23  # left the period: ceil(22.5)


def test_scale_down_policies_limit_each_period() -> None:
    pols = (RatePolicy("pods", 1, 60),)
    assert scale_down_floor(pols, "max", 10, (), 0) == 9
    assert scale_down_floor(pols, "max", 9, ((-10.0, -1),), 0) == 9
    assert scale_down_floor((), "max", 10, (), 0) == 0
    assert scale_down_floor(pols, "disabled", 10, (), 0) == 10


def test_a_scale_down_policy_slows_the_descent() -> None:
    spec = ScaleSpec(
        metric="queue",
        target=10,
        max_replicas=10,
        stabilization_window_s=0,
        cooldown_s=0,
        down_policies=(RatePolicy("pods", 2, 60),),
    )
    d = decide(spec, Observation(8, 0.0), (), None, 100.0)
    assert (d.desired, "rate-limited to 6" in d.reason) == (6, True)


# --- labels ---------------------------------------------------------------------------------


def test_behaviour_labels_reach_the_spec() -> None:
    cfg = parse(
        up__window="30s",
        down__window="2m",
        up__policies="pods:2/30s",
        down__policies="percent:50/1m,pods:1/1m",
        down__select="min",
        tolerance="5%",
    )
    s = cfg.spec
    assert (s.scale_up_stabilization_s, s.stabilization_window_s, s.tolerance) == (30, 120, 0.05)
    assert s.up_policies == (RatePolicy("pods", 2, 30),)
    assert s.down_policies == (RatePolicy("percent", 50, 60), RatePolicy("pods", 1, 60))
    assert s.down_select == "min" and cfg.problems == ()


@pytest.mark.parametrize(
    ("labels", "needle"),
    [
        ({"up__policies": "pods:2"}, "healer.scale.up.policies='pods:2'"),
        ({"up__policies": "pods:1.5/10s"}, "whole number"),
        ({"down__policies": "percent:150/10s"}, "must be <= 100"),
        ({"up__select": "fastest"}, "healer.scale.up.select='fastest' is not one of"),
        ({"tolerance": "1.5"}, "healer.scale.tolerance='1.5'"),
        ({"down__window": "soon"}, "healer.scale.down.window='soon'"),
    ],
)
def test_a_bad_behaviour_label_is_named_and_defaults_stay(
    labels: dict[str, str], needle: str
) -> None:
    cfg = parse(**labels)
    assert any(needle in p for p in cfg.problems), cfg.problems
    assert cfg.spec.up_policies == () and cfg.spec.tolerance == 0.1


def test_several_metrics_with_their_own_keys_and_old_labels_still_read() -> None:
    cfg = parse(
        metrics="cpu,queue,prometheus",
        cpu__target="60%",
        queue__queues="a,b",
        queue__target="5",
        prometheus__query="sum(x)",
        prometheus__target="100",
    )
    assert [(m.metric, m.target) for m in cfg.metrics] == [
        ("cpu", 0.6),
        ("queue", 5.0),
        ("prometheus", 100.0),
    ]
    assert cfg.queues == ("a", "b") and cfg.drain == "celery" and cfg.problems == ()
    old = parse(metric="queue", queues="q", target="7")
    assert [(m.metric, m.target, m.queues) for m in old.metrics] == [("queue", 7.0, ("q",))]


def test_prometheus_without_query_or_target_is_reported() -> None:
    cfg = parse(metric="prometheus")
    assert any("needs healer.scale.query" in p for p in cfg.problems)
    assert any("needs healer.scale.prometheus.target" in p for p in cfg.problems)
    assert not cfg.metrics[0].usable


def test_min_zero_needs_a_metric_that_reads_at_zero() -> None:
    assert parse(metric="queue", queues="q", min="0").spec.min_replicas == 0
    cpu = parse(metric="cpu", min="0")
    assert cpu.spec.min_replicas == 1 and "scale to zero needs" in cpu.problems[0]
    worker = parse_scale_labels({"healer.role": "worker", "healer.scale.min": "0"})
    assert worker.spec.min_replicas == 1


# --- several metrics, missing metrics, zero -------------------------------------------------

SPEC = ScaleSpec(metric="queue", target=10, max_replicas=10, stabilization_window_s=0, cooldown_s=0)


def reading(
    metric: str, target: float | None, replicas: int, value: float | None, activation: float = 0.0
) -> Reading:
    return Reading(metric, target, Observation(replicas, value), activation)  # type: ignore[arg-type]


def test_the_largest_recommendation_wins_and_is_named() -> None:
    rs = (reading("cpu", 0.5, 2, 0.5), reading("queue", 10, 2, 55.0))
    d = decide_readings(SPEC, rs, (), None, 0.0)
    assert (d.desired, d.decided_by) == (6, "queue") and "queue decided" in d.reason


def test_a_missing_metric_never_lets_the_count_go_down() -> None:
    rs = (reading("cpu", 0.5, 4, 0.1), reading("prometheus", 10, 4, None))
    d = decide_readings(SPEC, rs, ((-400.0, 1),), None, 0.0)
    assert (d.desired, d.direction) == (4, "none") and "not below 4" in d.reason
    up = (reading("cpu", 0.5, 4, 1.0), reading("prometheus", 10, 4, None))
    assert decide_readings(SPEC, up, (), None, 0.0).desired == 8  # up is still allowed
    none = (reading("prometheus", 10, 4, None),)
    assert decide_readings(SPEC, none, (), None, 0.0).desired == 4


def test_to_zero_only_when_idle_and_back_on_any_activity() -> None:
    spec = ScaleSpec(
        metric="queue", target=10, min_replicas=0, stabilization_window_s=60, cooldown_s=0
    )
    idle = (reading("queue", 10, 1, 0.0),)
    first = decide_readings(spec, idle, (), None, 0.0)
    assert first.desired == 1, "the window is not covered yet"
    later = decide_readings(spec, idle, first.history, None, 61.0)
    assert later.desired == 0 and "idle" in later.reason
    below = (reading("queue", 10, 0, 3.0, activation=5),)
    assert decide_readings(spec, below, later.history, None, 62.0).desired == 0
    wake = (reading("queue", 10, 0, 6.0, activation=5),)
    assert decide_readings(spec, wake, later.history, None, 63.0).desired == 1
    busy = (reading("queue", 10, 2, 1.0),)  # 1 task: not idle, so never below 1
    assert decide_readings(spec, busy, (), None, 999.0).raw == 1
