"""The adaptive repair concurrency limit (AIMD on the engine's throughput)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.repair.concurrency import LimitPolicy, LimitState, Sample, allowed, update

POLICY = LimitPolicy(cap=64, initial=8)  # a small start shows the ramp


def run(state: LimitState, *samples: Sample, policy: LimitPolicy = POLICY) -> LimitState:
    for s in samples:
        state = update(policy, state, s)
    return state


def test_starts_at_the_cap_by_default_and_never_above_it() -> None:
    assert allowed(LimitPolicy(cap=64), LimitPolicy(cap=64).start()) == 64
    assert allowed(POLICY, POLICY.start()) == 8
    assert allowed(LimitPolicy(cap=4), LimitPolicy(cap=4).start()) == 4


def steady(start: float, n: int, every: float, latency: float, in_flight: int) -> list[Sample]:
    """`n` completions `every` seconds apart, each after `latency`, `in_flight` acting."""
    return [Sample(latency, in_flight, True, start + i * every) for i in range(n)]


def mass_failure(n: int, arrive: float, rate: float, setup: float = 1.0) -> list[Sample]:
    """`n` failures reaching the engine `arrive` per second (their events trickle in), which
    completes them in order at a steady `rate` per second, each `setup` seconds at least."""
    spans = []
    free = 0.0
    for k in range(n):
        began = k / arrive
        free = max(began + setup, free + 1 / rate)
        spans.append((began, free))
    return [
        Sample(end - began, sum(1 for b, e in spans if b <= end <= e), True, end)
        for began, end in spans
    ]


def test_slow_start_doubles_per_round_while_the_engine_keeps_up() -> None:
    state = POLICY.start()
    # 8 actions in flight, each 0.5 s: fast, so not even measured; every one adds a slot.
    state = run(state, *steady(0.0, 8, 0.1, 0.5, 8))
    assert allowed(POLICY, state) == 16
    # More in flight, each slower, but the engine completes more per second: no overload.
    state = run(state, *steady(10.0, 16, 0.25, 2.0, 16))
    state = run(state, *steady(20.0, 32, 0.2, 3.5, 32))
    assert allowed(POLICY, state) == 64
    assert state.slow_start
    assert state.best is not None and state.best == pytest.approx(0.2)


def test_a_mass_failure_the_engine_works_through_never_lowers_the_limit() -> None:
    """100 restarts reaching the engine over 2 to 10 s, worked through at a steady 6 per
    second: the last takes about 14 s, the first 1 s. One action's latency per action in
    flight reads that as overload and halved the limit mid-burst (to 64, measured on the
    previous rule); the engine's throughput shows none."""
    policy = LimitPolicy(cap=128)
    for arrive in (10.0, 20.0, 50.0):
        state = run(policy.start(), *mass_failure(100, arrive, 6.0), policy=policy)
        assert allowed(policy, state) == 128, arrive
        assert state.slow_start, "never decreased"
        assert state.best is not None


def test_an_engine_getting_faster_is_not_overload() -> None:
    """A storm's first completions come slowly while its restarts queue up (measured: 8 in
    6 s at 71 in flight, then 8 in 1 s at 94). The better window lowers the best at once and
    the smoothed cost lags behind it, which says the engine got faster, not slower."""
    state = run(POLICY.start(), *steady(0.0, 9, 0.75, 7.0, 71))
    state = run(state, *steady(6.1, 16, 0.14, 8.8, 94))
    assert state.best == pytest.approx(0.14)
    assert state.best is not None and state.cost is not None
    assert state.cost > POLICY.tolerance * state.best
    assert state.slow_start and allowed(POLICY, state) == 8 + 25


def test_throughput_falling_with_more_in_flight_halves_once_per_round_trip() -> None:
    state = run(POLICY.start(), *steady(0.0, 24, 0.0625, 2.0, 32))  # 16 per second at 32
    assert allowed(POLICY, state) == 32
    assert state.best == pytest.approx(0.0625)
    # Then 64 in flight complete only 4 per second: the engine is overloaded (thrashing).
    halved_at = []
    for sample in steady(1.5, 120, 0.25, 16.0, 64):
        before = state.limit
        state = update(POLICY, state, sample)
        if state.limit < before:
            halved_at.append(sample.at)
            assert state.limit == pytest.approx(before / 2)
    assert not state.slow_start
    assert len(halved_at) == 2, "once per round trip (16 s) of the 30 s of reports"
    assert halved_at[1] - halved_at[0] >= 16.0
    assert allowed(POLICY, state) <= 16


def test_less_parallel_is_not_overload_and_the_limit_grows_back_by_one_per_round() -> None:
    state = run(POLICY.start(), *steady(0.0, 24, 0.0625, 2.0, 32))
    state = run(state, Sample(0.1, 1, False, 10.0))  # a failure: halved to 16
    assert allowed(POLICY, state) == 16 and not state.slow_start
    # 4 in flight complete only 2 per second (8x the best cost): less parallelism, no
    # overload; the limit grows by one slot per round of `limit` actions (16 + 48/~17 ≈ 19).
    calm = run(state, *steady(100.0, 48, 0.5, 2.0, 4))
    assert allowed(POLICY, calm) in (18, 19, 20)
    # Back above the best cost's concurrency and 8x dearer: overloaded.
    again = run(calm, *steady(200.0, 16, 0.5, 2.0, 40))
    assert allowed(POLICY, again) < allowed(POLICY, calm)


def test_an_idle_pause_is_not_slowness() -> None:
    """A lone repair, then a storm 25 s later: the pause is no gap between completions."""
    state = run(POLICY.start(), Sample(1.5, 1, True, 0.0))
    state = run(state, *steady(25.0, 11, 0.1, 2.0, 40))
    assert state.best == pytest.approx(0.1), "the window began after the pause"
    assert allowed(POLICY, state) == 20 and state.slow_start


def test_a_failed_or_very_slow_action_is_saturation() -> None:
    state = run(POLICY.start(), *(Sample(0.2, 1, True, float(i)) for i in range(8)))
    assert allowed(POLICY, state) == 16
    assert allowed(POLICY, update(POLICY, state, Sample(0.1, 1, False, 50.0))) == 8
    assert allowed(POLICY, update(POLICY, state, Sample(31.0, 1, True, 50.0))) == 8


def graced(samples: list[Sample], grace: float) -> list[Sample]:
    return [replace(s, grace=grace) for s in samples]


def test_windows_of_actions_that_took_their_stop_grace_say_nothing() -> None:
    """Containers that ignore SIGTERM: each restart takes its 10 s grace. Completing 1 per
    second at 40 in flight after 16 per second at 32 is the containers, not the engine."""
    state = run(POLICY.start(), *steady(0.0, 24, 0.0625, 2.0, 32))
    assert state.best == pytest.approx(0.0625)
    state = run(state, *graced(steady(1.5, 40, 1.0, 9.5, 40), grace=10.0))
    assert state.slow_start and allowed(POLICY, state) == 64, "never lowered"
    assert state.best == pytest.approx(0.0625)
    # A long grace is no overload either, even past max_latency.
    assert allowed(POLICY, update(POLICY, state, Sample(61.0, 1, True, 100.0, 60.0))) == 64
    # Counted only among the others, such a window would read as a slow engine: a window of
    # mostly quick actions with a few graced ones is measured on all its completions.
    mixed = steady(0.0, 20, 0.0625, 2.0, 32)
    mixed[3::4] = graced(mixed[3::4], grace=2.0)
    state = run(POLICY.start(), *mixed)
    assert state.cost == pytest.approx(0.0625)


def test_fast_actions_are_never_overload_nor_set_the_best() -> None:
    state = run(POLICY.start(), *steady(1.0, 40, 0.1, 0.05, 40))
    assert state.best is None and state.cost is None
    assert allowed(POLICY, state) == 48


def test_the_floor_holds_and_a_fixed_policy_never_moves() -> None:
    state = POLICY.start()
    for i in range(20):
        state = update(POLICY, state, Sample(0.1, 1, False, 100.0 * i))
    assert allowed(POLICY, state) == POLICY.floor
    fixed = LimitPolicy(cap=8, floor=8, initial=8)
    s = run(fixed.start(), Sample(0.1, 1, False, 1.0), Sample(0.3, 1, True, 2.0))
    assert allowed(fixed, s) == 8


def test_a_stale_best_is_replaced() -> None:
    state = run(POLICY.start(), *steady(0.0, 9, 0.125, 1.5, 10))
    assert state.best == pytest.approx(0.125)
    later = run(state, *steady(POLICY.best_ttl + 10, 9, 0.5, 4.0, 10))
    assert later.best == pytest.approx(0.5)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        LimitPolicy(cap=0)
    with pytest.raises(ValueError):
        LimitPolicy(cap=4, decrease=1.0)
    with pytest.raises(ValueError, match="window"):
        LimitPolicy(cap=4, window=1)


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
