"""Autoscaler maths: HPA formula examples plus properties over random specs and histories."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.naive_scaler import naive_threshold_decide
from healer.core.scaling.policy import (
    History,
    Observation,
    ScaleSpec,
    added_in_period,
    ceiling_load,
    decide,
    max_scale_up,
    prune_history,
    recommend,
)

NOW = 10_000.0
PROPS = settings(max_examples=60, deadline=None)


@st.composite
def specs(draw: st.DrawFn, metric: str | None = None, target_mode: bool | None = None) -> ScaleSpec:
    lo = draw(st.integers(0, 6))
    hi = draw(st.integers(max(lo, 1), 12))
    metric = metric or draw(st.sampled_from(["cpu", "memory", "queue"]))
    with_target = metric == "queue" or (
        target_mode if target_mode is not None else draw(st.booleans())
    )
    target = draw(st.floats(0.05, 50)) if with_target else None
    down = draw(st.floats(0, 0.5))
    return ScaleSpec(
        min_replicas=lo,
        max_replicas=hi,
        metric=metric,  # type: ignore[arg-type]
        target=target,
        down_threshold=down,
        up_threshold=draw(st.floats(down + 0.01, 1.5)),
        tolerance=draw(st.sampled_from([0.0, 0.05, 0.1, 0.3])),
        stabilization_window_s=draw(st.sampled_from([0.0, 60.0, 300.0])),
        scale_up_stabilization_s=draw(st.sampled_from([0.0, 0.0, 120.0])),
        cooldown_s=draw(st.sampled_from([0.0, 60.0])),
    )


histories = st.lists(st.tuples(st.floats(NOW - 700, NOW + 30), st.integers(0, 20)), max_size=8).map(
    lambda entries: tuple(sorted(entries))
)
last_scales = st.none() | st.floats(NOW - 200, NOW)
replicas = st.integers(0, 15)
values = st.floats(0, 200)
maybe_values = st.none() | values | st.just(math.nan) | st.just(-1.0)


# --- HPA formula, by example -------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "value", "target", "expected"),
    [
        (3, 0.9, 0.6, 5),  # ceil(3 * 1.5 = 4.5)
        (4, 0.8, 0.4, 8),  # exactly double, no float overshoot to 9
        (3, 0.6, 0.4, 5),  # ceil(4.5); 3 * 0.6 / 0.4 must not become 4.500001 -> still 5
        (2, 0.3, 0.6, 1),  # half the load -> half the replicas
        (10, 0.63, 0.6, 10),  # ratio 1.05: within tolerance
        (10, 0.54, 0.6, 10),  # ratio 0.90: on the tolerance edge, still no change
    ],
)
def test_cpu_target_formula(current: int, value: float, target: float, expected: int) -> None:
    spec = ScaleSpec(min_replicas=1, max_replicas=50, target=target, stabilization_window_s=0)
    assert decide(spec, Observation(current, value), (), None, NOW).raw == expected


@pytest.mark.parametrize(
    ("current", "backlog", "in_flight", "target", "expected"),
    [
        (2, 95, 0, 10, 10),  # ceil(95 / 10)
        (2, 90, 10, 10, 10),  # tasks already on workers count as load
        (5, 48, 0, 10, 5),  # 48 / 50 = 0.96: within tolerance
        (0, 1, 0, 10, 1),  # a single waiting task wakes a scaled-to-zero service
        (3, 0, 0, 10, 0),
    ],
)
def test_queue_target_formula(
    current: int, backlog: float, in_flight: int, target: float, expected: int
) -> None:
    spec = ScaleSpec(min_replicas=0, max_replicas=50, metric="queue", target=target)
    observation = Observation(current, backlog, in_flight=in_flight)
    assert decide(spec, observation, (), None, NOW).raw == expected


def test_decision_reason_names_metric_and_numbers() -> None:
    spec = ScaleSpec(min_replicas=1, max_replicas=10, target=0.5)
    decision = decide(spec, Observation(3, 0.9), (), None, NOW)
    assert (decision.desired, decision.direction, decision.changed) == (6, "up", True)
    assert "cpu 0.900" in decision.reason
    assert "target 0.5" in decision.reason
    assert "3 -> 6" in decision.reason


def test_threshold_mode_steps_one_replica() -> None:
    spec = ScaleSpec(min_replicas=1, max_replicas=5, stabilization_window_s=0)
    assert decide(spec, Observation(2, 0.95), (), None, NOW).desired == 3
    assert decide(spec, Observation(2, 0.5), (), None, NOW).desired == 2
    assert decide(spec, Observation(2, 0.1), (), None, NOW).desired == 1


def test_scale_up_is_rate_limited_to_double_or_plus_four() -> None:
    spec = ScaleSpec(min_replicas=0, max_replicas=100, metric="queue", target=1)
    assert decide(spec, Observation(1, 1000), (), None, NOW).desired == 5  # +4 beats x2
    assert decide(spec, Observation(10, 1000), (), None, NOW).desired == 20  # x2 beats +4
    assert "rate-limited" in decide(spec, Observation(10, 1000), (), None, NOW).reason


def test_scale_down_waits_for_a_full_window_then_follows_its_highest() -> None:
    spec = ScaleSpec(min_replicas=1, max_replicas=10, target=0.5, cooldown_s=0)
    history: History = ()
    current, seen = 6, []
    for tick in range(8):  # load falls to a third, then a sixth, one tick a minute
        value = 0.25 if tick < 3 else 0.125
        decision = decide(spec, Observation(current, value), history, None, NOW + 60 * tick)
        history, current = decision.history, decision.desired
        seen.append(current)
    # recommendations: 3, 3, 3, then 2 (ceil(6*0.25)), ... scale-down only after 300 s
    assert seen[:5] == [6, 6, 6, 6, 6]
    assert seen[5] == 3  # window [60, 300] still holds the ticks that recommended 3
    assert seen[-1] <= 3


def test_missing_history_blocks_scale_down_with_reason() -> None:
    spec = ScaleSpec(target=0.5)
    decision = decide(spec, Observation(4, 0.1), (), None, NOW)
    assert decision.desired == 4
    assert "does not cover" in decision.reason


def test_cooldown_holds_scale_down_but_never_scale_up_or_clamping() -> None:
    spec = ScaleSpec(min_replicas=2, max_replicas=8, target=0.5, cooldown_s=60)
    up = decide(spec, Observation(3, 0.9), (), NOW - 10, NOW)
    assert (up.desired, up.raw) == (6, 6), "a scale 10 s ago must not delay scale-up"
    covered = ((NOW - 400, 2),)  # a full window of 2: only the cooldown can hold it
    down = decide(spec, Observation(3, 0.2), covered, NOW - 10, NOW)
    assert (down.desired, down.raw) == (3, 2)
    assert "cooldown" in down.reason
    assert down.history[-1] == (NOW, 2)  # still recorded for stabilisation
    assert decide(spec, Observation(3, 0.2), covered, NOW - 61, NOW).desired == 2
    assert decide(spec, Observation(9, 0.9), (), NOW - 10, NOW).desired == 8
    assert decide(spec, Observation(0, None), (), NOW - 10, NOW).desired == 2


def test_scale_up_rate_limit_counts_the_autoscalers_own_scale_ups_in_the_period() -> None:
    spec = ScaleSpec(min_replicas=1, max_replicas=100, metric="queue", target=1)
    # Went 1 -> 5 six seconds ago: the period started at 1, so 5 is already the limit.
    held = decide(spec, Observation(5, 1000), (), NOW - 6, NOW, scale_ups=((NOW - 6, 4),))
    assert held.desired == 5
    assert "rate-limited" in held.reason
    # One period later the count at its start is 5: double it, or + 4.
    later = NOW + 9
    assert decide(spec, Observation(5, 1000), (), NOW - 6, later, ((NOW - 6, 4),)).desired == 10
    assert added_in_period(spec, ((NOW - 15, 3), (NOW - 14, 2), (NOW + 1, 7)), NOW) == 2


def test_a_manual_scale_never_slows_the_next_autoscale_up() -> None:
    """`healer scale web 2` just before a burst: the burst still gets max(2x, +4) at once."""
    spec = ScaleSpec(min_replicas=1, max_replicas=4, metric="queue", target=10)
    decision = decide(spec, Observation(2, 100), (), last_scale_at=NOW - 1, now=NOW)
    assert decision.desired == 4


def test_missing_metric_holds_and_is_explained() -> None:
    spec = ScaleSpec(target=0.5)
    for value in (None, math.nan, math.inf, -0.5):
        decision = decide(spec, Observation(3, value), ((NOW - 400, 1),), None, NOW)
        assert (decision.desired, decision.raw) == (3, None)
        assert "missing" in decision.reason


def test_history_is_pruned_to_window_plus_start_value() -> None:
    spec = ScaleSpec(stabilization_window_s=300)
    history = ((NOW - 900, 7), (NOW - 500, 4), (NOW - 200, 3), (NOW - 100, 2))
    assert prune_history(spec, history, NOW) == history[1:]
    decision = decide(spec, Observation(2, 0.5), history, None, NOW)
    assert decision.history == (*history[1:], (NOW, 2))


def test_history_from_the_future_or_this_instant_is_replaced() -> None:
    spec = ScaleSpec(target=0.5)
    history = ((NOW - 100, 3), (NOW, 9), (NOW + 50, 9))
    decision = decide(spec, Observation(3, 0.5), history, None, NOW)
    assert decision.history == ((NOW - 100, 3), (NOW, 3))


def test_scale_up_stabilisation_takes_the_lowest_recent_recommendation() -> None:
    spec = ScaleSpec(max_replicas=20, target=0.5, scale_up_stabilization_s=120)
    history = ((NOW - 60, 4), (NOW - 30, 9))
    assert decide(spec, Observation(3, 1.0), history, None, NOW).desired == 4


def test_naive_scaler_flaps_where_decide_holds() -> None:
    spec = ScaleSpec(min_replicas=1, max_replicas=10, target=0.5, cooldown_s=60)
    naive_changes = stable_changes = 0
    naive_n = stable_n = 4
    history: History = ()
    last: float | None = None
    for tick in range(30):
        now = NOW + 60 * tick
        spike = 0.9 if tick % 2 else 0.1
        n = naive_threshold_decide(spec, Observation(naive_n, spike))
        naive_changes += n.changed
        naive_n = n.desired
        d = decide(spec, Observation(stable_n, 0.45 if tick % 2 else 0.3), history, last, now)
        stable_changes += d.changed
        history, last = d.history, now if d.changed else last
        stable_n = d.desired
    assert naive_changes >= 25
    assert stable_changes <= 2


def test_naive_scaler_missing_metric_and_clamp() -> None:
    spec = ScaleSpec(min_replicas=2, max_replicas=4)
    assert naive_threshold_decide(spec, Observation(3, None)).desired == 3
    assert naive_threshold_decide(spec, Observation(4, 0.99)).desired == 4
    assert naive_threshold_decide(spec, Observation(2, 0.01)).desired == 2
    queue = ScaleSpec(metric="queue", target=10)
    assert naive_threshold_decide(queue, Observation(0, 5)).desired == 1


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_replicas": -1}, "min_replicas"),
        ({"min_replicas": 3, "max_replicas": 2}, r"max_replicas \(2\) must be >= min_replicas"),
        ({"min_replicas": 0, "max_replicas": 0}, "max_replicas must be an integer >= 1"),
        ({"min_replicas": 1.5}, "min_replicas"),
        ({"max_replicas": True}, "max_replicas"),
        ({"target": 0}, "target must be a finite number > 0"),
        ({"target": -2.0}, "target"),
        ({"target": math.nan}, "target"),
        ({"metric": "disk"}, "metric must be one of cpu, memory, queue"),
        ({"metric": "queue"}, "needs a target"),
        ({"up_threshold": 0.2, "down_threshold": 0.2}, "down_threshold < up_threshold"),
        ({"down_threshold": -0.1}, "down_threshold"),
        ({"tolerance": 1.0}, "tolerance must be < 1"),
        ({"tolerance": -0.1}, "tolerance"),
        ({"stabilization_window_s": -1}, "stabilization_window_s"),
        ({"cooldown_s": math.inf}, "cooldown_s"),
        ({"scale_up_factor": 0.5}, "scale_up_factor"),
        ({"scale_up_step": 0}, "scale_up_step"),
    ],
)
def test_invalid_spec_is_rejected_with_clear_message(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScaleSpec(**kwargs)


def test_all_spec_problems_are_reported_at_once() -> None:
    with pytest.raises(ValueError, match=r"target.*cooldown_s"):
        ScaleSpec(target=-1, cooldown_s=-1)


@pytest.mark.parametrize(
    "kwargs", [{"replicas": -1, "value": 1.0}, {"replicas": 1, "value": 1.0, "in_flight": -3}]
)
def test_invalid_observation_is_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be an integer >= 0"):
        Observation(**kwargs)


# --- properties ----------------------------------------------------------------------------


@PROPS
@given(specs(), replicas, values, values, st.integers(0, 50), histories, last_scales)
def test_more_load_never_lowers_desired(
    spec: ScaleSpec,
    current: int,
    a: float,
    b: float,
    in_flight: int,
    history: History,
    last: float | None,
) -> None:
    low, high = sorted((a, b))
    lo = decide(spec, Observation(current, low, in_flight), history, last, NOW)
    hi = decide(spec, Observation(current, high, in_flight), history, last, NOW)
    assert lo.desired <= hi.desired
    if lo.raw is not None and hi.raw is not None:
        assert lo.raw <= hi.raw


@PROPS
@given(specs(), replicas, maybe_values, histories, last_scales)
def test_desired_always_within_bounds_and_rate_limit(
    spec: ScaleSpec, current: int, value: float | None, history: History, last: float | None
) -> None:
    decision = decide(spec, Observation(current, value), history, last, NOW)
    assert spec.min_replicas <= decision.desired <= spec.max_replicas
    assert decision.desired <= max(max_scale_up(spec, current), spec.min_replicas)
    assert decision.direction == (
        "up" if decision.desired > current else "down" if decision.desired < current else "none"
    )


@PROPS
@given(specs(target_mode=True), replicas, st.floats(-0.99, 0.99), histories, last_scales)
def test_load_within_tolerance_changes_nothing(
    spec: ScaleSpec, current: int, offset: float, history: History, last: float | None
) -> None:
    assert spec.target is not None
    current = min(max(current, spec.min_replicas, 1), spec.max_replicas)
    value = spec.target * (1 + offset * spec.tolerance)
    if spec.metric == "queue":
        value *= current
    decision = decide(spec, Observation(current, value), history, last, NOW)
    assert (decision.raw, decision.desired) == (current, current)


@PROPS
@given(specs(), replicas, values, histories, last_scales)
def test_scale_down_only_after_a_full_window_of_lower_recommendations(
    spec: ScaleSpec, current: int, value: float, history: History, last: float | None
) -> None:
    decision = decide(spec, Observation(current, value), history, last, NOW)
    if decision.direction != "down" or current > spec.max_replicas:
        return  # only clamping to max may skip the window
    window = spec.stabilization_window_s
    assert decision.raw is not None and decision.raw < current
    if window == 0:
        return
    cutoff = NOW - window
    before = [entry for entry in history if entry[0] <= cutoff]
    assert before, "no recorded recommendation reaches back a full window"
    assert max(before)[1] <= decision.desired
    assert all(r <= decision.desired for t, r in history if cutoff < t <= NOW)


@PROPS
@given(specs(), replicas, histories, last_scales)
def test_missing_metric_never_scales_except_into_bounds(
    spec: ScaleSpec, current: int, history: History, last: float | None
) -> None:
    decision = decide(spec, Observation(current, None), history, last, NOW)
    inside = min(max(current, spec.min_replicas), spec.max_replicas)
    assert decision.desired == inside
    assert decision.raw is None
    assert decision.history == prune_history(spec, history, NOW)


@PROPS
@given(specs(), replicas, values, histories, st.floats(0, 59))
def test_cooldown_never_holds_scale_up(
    spec: ScaleSpec, current: int, value: float, history: History, since: float
) -> None:
    """A scale event `since` seconds ago changes nothing about a scale-up, and during the
    cooldown the count never goes below its clamp into bounds."""
    spec = replace(spec, cooldown_s=60)
    recent = decide(spec, Observation(current, value), history, NOW - since, NOW)
    never = decide(spec, Observation(current, value), history, None, NOW)
    if never.direction == "up":
        assert recent.desired == never.desired
    assert recent.desired >= min(max(current, spec.min_replicas), spec.max_replicas)


@PROPS
@given(specs(), replicas, values, histories)
def test_new_history_is_sorted_bounded_and_ends_with_this_recommendation(
    spec: ScaleSpec, current: int, value: float, history: History
) -> None:
    decision = decide(spec, Observation(current, value), history, None, NOW)
    assert list(decision.history) == sorted(decision.history)
    assert decision.history[-1] == (NOW, decision.raw)
    horizon = max(spec.stabilization_window_s, spec.scale_up_stabilization_s)
    assert sum(t <= NOW - horizon for t, _ in decision.history[:-1]) <= 1


# --- the load past which tasks in flight need not be measured -------------------------------


@settings(max_examples=300, deadline=None)
@given(
    target=st.integers(1, 50),
    lo=st.integers(0, 3),
    hi=st.integers(1, 12),
    current=st.integers(0, 20),
    extra=st.integers(0, 500),
    in_flight=st.integers(0, 500),
)
def test_past_the_ceiling_load_tasks_in_flight_never_change_the_capped_recommendation(
    target: int, lo: int, hi: int, current: int, extra: int, in_flight: int
) -> None:
    spec = ScaleSpec(min_replicas=min(lo, hi), max_replicas=hi, metric="queue", target=target)
    backlog = ceiling_load(spec) + extra
    running = min(current, hi)  # as the scaler runs it: never above max

    def capped(flight: int) -> int:
        raw, _ = recommend(spec, Observation(running, float(backlog), flight))
        assert raw is not None
        return min(raw, spec.max_replicas)

    assert capped(0) == capped(in_flight) == spec.max_replicas


def test_the_ceiling_load_is_only_for_queues_with_a_target() -> None:
    assert ceiling_load(ScaleSpec(max_replicas=4, metric="queue", target=10)) == 40
    assert ceiling_load(ScaleSpec(max_replicas=4, metric="cpu", target=0.6)) == math.inf
    assert ceiling_load(ScaleSpec(max_replicas=4, metric="cpu")) == math.inf
