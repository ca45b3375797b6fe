"""Restart policy (docs/architecture.md): first repair at once, doubling waits, quarantine
after the budget."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.repair.backoff import (
    Decision,
    Episode,
    RestartPolicy,
    Verdict,
    cooldown_remaining,
    decide,
    episode_over,
    required_wait,
)

PROPS = settings(max_examples=60, deadline=None)
T0 = 1_000_000.0
SEED = RestartPolicy(cooldown=300, max_attempts=3, backoff_max=3600, reset_after=600)

# Whole numbers keep every sum exact, so "exactly when allowed" can be asserted with ==.
policies = st.builds(
    RestartPolicy,
    cooldown=st.integers(0, 5000).map(float),
    max_attempts=st.integers(1, 8),
    backoff_max=st.integers(1, 20_000).map(float),
    reset_after=st.integers(0, 3600).map(float),
)
gaps = st.lists(st.integers(0, 4000).map(float), min_size=1, max_size=40)


def apply(episode: Episode, d: Decision) -> Episode:
    """What the guard stores: the new episode for ACT and QUARANTINE, nothing otherwise."""
    return d.episode if d.verdict in (Verdict.ACT, Verdict.QUARANTINE) else episode


def crash_loop(
    policy: RestartPolicy, every: float, until: float
) -> tuple[list[float], float | None]:
    """The service fails again every `every` s; returns the act times and the quarantine time."""
    episode, acts, quarantined = Episode(), [], None
    t = T0
    while t <= T0 + until:
        d = decide(policy, episode, t)
        if d.verdict == Verdict.ACT:
            acts.append(t - T0)
        elif d.verdict == Verdict.QUARANTINE:
            assert quarantined is None
            quarantined = t - T0
        episode = apply(episode, d)
        t += every
    return acts, quarantined


# --- required_wait -----------------------------------------------------------------------------


def test_first_repair_of_an_episode_waits_nothing() -> None:
    assert required_wait(SEED, 0) == 0.0


@pytest.mark.parametrize(
    ("attempts_done", "wait"),
    [(1, 300), (2, 600), (3, 1200), (4, 2400), (5, 3600), (6, 3600), (500, 3600)],
)
def test_waits_double_from_the_cooldown_up_to_the_cap(attempts_done: int, wait: float) -> None:
    assert required_wait(SEED, attempts_done) == wait


@PROPS
@given(policies, st.integers(2, 80))
def test_wait_before_repair_k_is_the_kubelet_formula(policy: RestartPolicy, k: int) -> None:
    expected = min(policy.cooldown * 2.0 ** (k - 2), policy.backoff_max)
    assert required_wait(policy, k - 1) == expected


@PROPS
@given(policies, st.integers(0, 200))
def test_waits_never_decrease_and_never_exceed_the_cap(policy: RestartPolicy, done: int) -> None:
    w, w_next = required_wait(policy, done), required_wait(policy, done + 1)
    assert 0 <= w <= w_next <= policy.backoff_max


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert required_wait(SEED, 10**6) == 3600
    huge_cap = replace(SEED, backoff_max=float("inf"))
    assert 0 < required_wait(huge_cap, 10**6) < float("inf")  # no OverflowError


# --- decide: the contract, step by step --------------------------------------------------------


def test_first_repair_acts_at_once_and_opens_the_episode() -> None:
    d = decide(SEED, Episode(), T0, "req-1")
    assert d.verdict == Verdict.ACT
    assert d.episode == Episode(
        attempts=1, last_repair_at=T0, started_at=T0, quarantined_at=None, last_request="req-1"
    )
    assert d.retry_after == 0


def test_second_repair_waits_the_cooldown_then_acts() -> None:
    one = decide(SEED, Episode(), T0).episode
    early = decide(SEED, one, T0 + 299)
    assert early.verdict == Verdict.WAIT
    assert early.retry_after == 1
    assert early.episode == one  # waiting changes nothing
    assert "cooldown" in early.reason
    on_time = decide(SEED, one, T0 + 300)
    assert on_time.verdict == Verdict.ACT
    assert on_time.episode.attempts == 2
    assert on_time.episode.started_at == T0  # still the same episode


def test_third_repair_waits_twice_the_cooldown_and_says_backoff() -> None:
    two = Episode(attempts=2, last_repair_at=T0, started_at=T0 - 300)
    d = decide(SEED, two, T0 + 599)
    assert d.verdict == Verdict.WAIT
    assert d.retry_after == 1
    assert "backoff" in d.reason
    assert decide(SEED, two, T0 + 600).verdict == Verdict.ACT


def test_after_max_attempts_the_next_failure_quarantines_then_stays_quarantined() -> None:
    spent = Episode(attempts=3, last_repair_at=T0, started_at=T0 - 900)
    q = decide(SEED, spent, T0 + 1)  # even inside the backoff window: no more waiting
    assert q.verdict == Verdict.QUARANTINE
    assert q.episode.quarantined_at == T0 + 1
    assert q.episode.attempts == 3  # quarantining is not a repair
    assert "max_attempts" in q.reason
    for later in (T0 + 2, T0 + 10_000, T0 + 10**7):
        again = decide(SEED, q.episode, later)
        assert again.verdict == Verdict.QUARANTINED
        assert again.episode == q.episode


def test_crash_loop_timeline_with_the_seed_defaults() -> None:
    acts, quarantined = crash_loop(SEED, every=10, until=6 * 3600)
    assert acts == [0, 300, 300 + 600]
    assert quarantined == 910  # the first failure after the third repair


def test_crash_loop_timeline_reaches_the_cap() -> None:
    policy = RestartPolicy(cooldown=300, max_attempts=6, backoff_max=1000, reset_after=600)
    acts, quarantined = crash_loop(policy, every=1, until=10_000)
    # waits after repairs 1..5: 300, 600, 1000 (1200 capped), 1000, 1000
    assert acts == [0, 300, 900, 1900, 2900, 3900]
    assert quarantined == 3901


def test_zero_cooldown_acts_on_every_failure_until_the_budget_is_spent() -> None:
    policy = replace(SEED, cooldown=0)
    acts, quarantined = crash_loop(policy, every=5, until=60)
    assert acts == [0, 5, 10]
    assert quarantined == 15


# --- redelivery and operator repairs -----------------------------------------------------------


def test_redelivered_request_never_acts_again_nor_spends_an_attempt() -> None:
    first = decide(SEED, Episode(), T0, "req-1")
    again = decide(SEED, first.episode, T0 + 1, "req-1")  # inside the cooldown
    assert again.verdict == Verdict.REDELIVERED
    later = decide(SEED, first.episode, T0 + 10_000, "req-1")  # long after it
    assert later.verdict == Verdict.REDELIVERED
    assert again.episode == first.episode == later.episode
    assert again.episode.attempts == 1
    other = decide(SEED, first.episode, T0 + 1, "req-2")
    assert other.verdict == Verdict.WAIT


def test_redelivered_last_slot_is_not_quarantined() -> None:
    e = Episode()
    for i, t in enumerate((T0, T0 + 300, T0 + 900)):
        d = decide(SEED, e, t, f"req-{i}")
        assert d.verdict == Verdict.ACT
        e = d.episode
    assert e.attempts == 3
    assert decide(SEED, e, T0 + 901, "req-2").verdict == Verdict.REDELIVERED
    assert decide(SEED, e, T0 + 901, "req-3").verdict == Verdict.QUARANTINE


def test_empty_request_id_is_never_taken_for_a_redelivery() -> None:
    one = decide(SEED, Episode(), T0).episode
    assert one.last_request == ""
    assert decide(SEED, one, T0 + 1, "").verdict == Verdict.WAIT


def test_operator_repairs_back_off_but_never_quarantine() -> None:
    manual = replace(SEED, quarantines=False)
    acts, quarantined = crash_loop(manual, every=100, until=20_000)
    assert quarantined is None
    assert acts[:5] == [0, 300, 900, 2100, 4500]  # waits 300, 600, 1200, 2400
    assert len(acts) > manual.max_attempts


def test_operator_repair_is_not_blocked_by_an_old_quarantine_flag() -> None:
    manual = replace(SEED, quarantines=False)
    q = Episode(attempts=3, last_repair_at=T0, started_at=T0, quarantined_at=T0)
    d = decide(manual, q, T0 + 10_000)
    assert d.verdict == Verdict.ACT
    assert d.episode.attempts == 4
    assert not d.episode.quarantined


# --- properties over arbitrary sequences -------------------------------------------------------


@PROPS
@given(policies, gaps)
def test_any_sequence_of_failures_obeys_the_policy(
    policy: RestartPolicy, steps: list[float]
) -> None:
    episode, now, quarantined = Episode(), T0, False
    for gap in steps:
        now += gap
        d = decide(policy, episode, now)
        if quarantined:
            assert d.verdict == Verdict.QUARANTINED
        if d.verdict == Verdict.ACT:
            assert d.episode.attempts == episode.attempts + 1
            assert d.episode.last_repair_at == now
            assert episode.last_repair_at is None or (
                now - episode.last_repair_at >= required_wait(policy, episode.attempts)
            )
        elif d.verdict == Verdict.WAIT:
            assert episode.last_repair_at is not None, "a wait follows a repair"
            allowed_at = episode.last_repair_at + required_wait(policy, episode.attempts)
            assert d.retry_after == allowed_at - now > 0
            assert cooldown_remaining(policy, episode, now) == d.retry_after
            assert d.episode == episode
        elif d.verdict == Verdict.QUARANTINE:
            assert episode.attempts == policy.max_attempts
            quarantined = True
        episode = apply(episode, d)
        assert episode.attempts <= policy.max_attempts


@PROPS
@given(policies, st.integers(0, 7), st.integers(0, 30_000).map(float))
def test_waiting_exactly_retry_after_is_enough(
    policy: RestartPolicy, attempts: int, elapsed: float
) -> None:
    attempts = min(attempts, policy.max_attempts - 1)
    episode = Episode(attempts=attempts, last_repair_at=T0 if attempts else None, started_at=T0)
    d = decide(policy, episode, T0 + elapsed)
    if d.verdict == Verdict.WAIT:
        assert decide(policy, episode, T0 + elapsed + d.retry_after).verdict == Verdict.ACT
    else:
        assert d.verdict == Verdict.ACT
        assert cooldown_remaining(policy, episode, T0 + elapsed) == 0


@PROPS
@given(policies, st.integers(0, 7), st.integers(-100, 30_000).map(float))
def test_cooldown_remaining_matches_decide(
    policy: RestartPolicy, attempts: int, elapsed: float
) -> None:
    attempts = min(attempts, policy.max_attempts - 1)
    episode = Episode(attempts=attempts, last_repair_at=T0 if attempts else None, started_at=T0)
    left = cooldown_remaining(policy, episode, T0 + elapsed)
    assert left >= 0
    assert (left > 0) == (decide(policy, episode, T0 + elapsed).verdict == Verdict.WAIT)


def test_cooldown_remaining_without_any_repair_is_zero() -> None:
    assert cooldown_remaining(SEED, Episode(), T0) == 0.0


def test_cooldown_remaining_counts_down_the_current_backoff() -> None:
    two = Episode(attempts=2, last_repair_at=T0, started_at=T0)
    assert cooldown_remaining(SEED, two, T0 + 100) == 500
    assert cooldown_remaining(SEED, two, T0 + 600) == 0
    assert cooldown_remaining(SEED, two, T0 + 9999) == 0


# --- episode_over ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("healthy_since", "now", "over"),
    [(None, T0, False), (T0, T0, False), (T0, T0 + 599, False), (T0, T0 + 600, True)],
)
def test_episode_ends_after_reset_after_of_good_health(
    healthy_since: float | None, now: float, over: bool
) -> None:
    assert episode_over(SEED, healthy_since, now) is over


def test_quarantined_property_follows_the_timestamp() -> None:
    assert not Episode().quarantined
    assert Episode(quarantined_at=0.0).quarantined  # epoch 0 is still a time
