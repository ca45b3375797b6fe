"""The adaptive repair concurrency limit (AIMD on the engine's time per action)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.concurrency import LimitPolicy, LimitState, Sample, allowed, update

POLICY = LimitPolicy(cap=64, initial=8)  # a small start shows the ramp


def run(state: LimitState, *samples: Sample, policy: LimitPolicy = POLICY) -> LimitState:
    for s in samples:
        state = update(policy, state, s)
    return state


def test_starts_at_the_cap_by_default_and_never_above_it() -> None:
    assert allowed(LimitPolicy(cap=64), LimitPolicy(cap=64).start()) == 64
    assert allowed(POLICY, POLICY.start()) == 8
    assert allowed(LimitPolicy(cap=4), LimitPolicy(cap=4).start()) == 4


def test_slow_start_doubles_per_round_while_the_engine_keeps_up() -> None:
    state = POLICY.start()
    # 8 actions in flight, each 0.5 s: fast, so not even measured; every one adds a slot.
    state = run(state, *(Sample(0.5, 8, True, float(i)) for i in range(8)))
    assert allowed(POLICY, state) == 16
    # Parallel restarts get slower in total but cheaper per action: still no saturation.
    state = run(state, *(Sample(2.0, 16, True, 10.0 + i) for i in range(16)))
    state = run(state, *(Sample(3.5, 32, True, 20.0 + i) for i in range(32)))
    assert allowed(POLICY, state) == 64
    assert state.slow_start


def test_rising_cost_per_action_halves_once_per_round_trip_then_grows_by_one_per_round() -> None:
    state = run(POLICY.start(), *(Sample(2.0, 32, True, float(i)) for i in range(24)))
    assert allowed(POLICY, state) == 32
    # The engine stops scaling: 32 in flight now take 8 s each (4x the cost per action).
    state = run(state, *(Sample(8.0, 32, True, 100.0 + i * 0.01) for i in range(10)))
    assert allowed(POLICY, state) == 16, "one decrease for one round trip of reports"
    assert not state.slow_start
    assert allowed(POLICY, run(state, Sample(8.0, 16, True, 108.5))) == 16, "less parallel"
    later = run(state, Sample(8.0, 32, True, 100.0 + 8.5))
    assert allowed(POLICY, later) == 8, "the next round trip saw it again"
    # Fewer in flight cost more each (less parallelism), which is no saturation: the limit
    # grows again by one slot per round of `limit` actions (8 + 40/~10 ≈ 12).
    calm = run(later, *(Sample(1.5, 8, True, 300.0 + i) for i in range(40)))
    assert allowed(POLICY, calm) in (11, 12, 13)
    # Back at the concurrency of the best cost and still 4x dearer: saturated again.
    again = run(calm, *(Sample(8.0, 32, True, 400.0 + i) for i in range(3)))
    assert allowed(POLICY, again) < allowed(POLICY, calm)


def test_a_failed_or_very_slow_action_is_saturation() -> None:
    state = run(POLICY.start(), *(Sample(0.2, 1, True, float(i)) for i in range(8)))
    assert allowed(POLICY, state) == 16
    assert allowed(POLICY, update(POLICY, state, Sample(0.1, 1, False, 50.0))) == 8
    assert allowed(POLICY, update(POLICY, state, Sample(31.0, 1, True, 50.0))) == 8


def test_an_action_that_took_its_stop_grace_says_nothing() -> None:
    state = POLICY.start()
    assert update(POLICY, state, Sample(10.0, 1, True, 5.0, grace=10.0)) == state
    assert update(POLICY, state, Sample(9.5, 1, True, 5.0, grace=10.0)) == state


def test_fast_actions_are_never_saturation_nor_set_the_best() -> None:
    state = run(POLICY.start(), Sample(0.05, 40, True, 1.0))
    assert state.best is None
    assert allowed(POLICY, state) == 9


def test_the_floor_holds_and_a_fixed_policy_never_moves() -> None:
    state = POLICY.start()
    for i in range(20):
        state = update(POLICY, state, Sample(0.1, 1, False, 100.0 * i))
    assert allowed(POLICY, state) == POLICY.floor
    fixed = LimitPolicy(cap=8, floor=8, initial=8)
    s = run(fixed.start(), Sample(0.1, 1, False, 1.0), Sample(0.3, 1, True, 2.0))
    assert allowed(fixed, s) == 8


def test_a_stale_best_is_replaced() -> None:
    state = run(POLICY.start(), Sample(1.0, 10, True, 0.0))
    assert state.best == pytest.approx(0.1)
    later = run(state, Sample(4.0, 10, True, POLICY.best_ttl + 1))
    assert later.best == pytest.approx(0.4)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        LimitPolicy(cap=0)
    with pytest.raises(ValueError):
        LimitPolicy(cap=4, decrease=1.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 100), st.integers(1, 200), st.booleans(), st.floats(0, 60)),
        max_size=60,
    ),
    st.integers(1, 128),
)
def test_limit_always_within_floor_and_cap(
    samples: list[tuple[float, int, bool, float]], cap: int
) -> None:
    policy = LimitPolicy(cap=cap)
    state = policy.start()
    at = 0.0
    for latency, in_flight, ok, grace in samples:
        at += 1.0
        state = update(policy, state, Sample(latency, in_flight, ok, at, grace or math.inf))
        assert policy.lowest <= allowed(policy, state) <= cap
