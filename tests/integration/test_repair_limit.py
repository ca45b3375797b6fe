"""The adaptive repair limit against the real Redis: slots follow the stored limit, dead
workers' slots expire, every action's latency moves one shared limit."""

from __future__ import annotations

import time

import redis

from healer.adapters.store import keys
from healer.adapters.store.repair_limit import LIMIT_TTL, RepairLimiter, decode, encode
from healer.core.model import HostId
from healer.core.repair.concurrency import LimitPolicy, LimitState, Tally

HOST = HostId("node-a")


def test_slots_follow_the_shared_limit(redis_client: redis.Redis) -> None:
    lim = RepairLimiter(redis_client, LimitPolicy(cap=16, initial=2), slot_ttl=30, host=HOST)
    now = time.time()
    first, second = lim.acquire(now), lim.acquire(now)
    assert first is not None and second is not None
    assert (second.in_flight, second.allowed) == (2, 2)
    assert lim.acquire(now) is None, "the initial limit is 2"
    # Two fast, successful actions: slow start adds a slot for each.
    lim.observe(0.2, True, now)
    state = lim.observe(0.2, True, now)
    assert state.limit == 4
    again = RepairLimiter(redis_client, LimitPolicy(cap=16, initial=2), 30, host=HOST)
    assert again.state() == state
    assert lim.acquire(now) is not None and lim.acquire(now) is not None
    assert lim.acquire(now) is None
    lim.release(first.token)
    assert lim.acquire(now) is not None
    assert 0 < redis_client.ttl(keys.repair_limit(HOST)) <= LIMIT_TTL


def test_a_dead_workers_slot_frees_itself(redis_client: redis.Redis) -> None:
    one = LimitPolicy(cap=1, floor=1, initial=1)
    lim = RepairLimiter(redis_client, one, slot_ttl=0.3, host=HOST)
    now = time.time()
    assert lim.acquire(now) is not None
    assert lim.acquire(now) is None
    assert lim.acquire(now + 0.5) is not None, "the first holder never released it"
    assert redis_client.pttl(keys.repair_slots(HOST)) > 0


def test_an_engine_failure_halves_the_limit_for_everyone(redis_client: redis.Redis) -> None:
    policy = LimitPolicy(cap=64, initial=16)
    lim = RepairLimiter(redis_client, policy, slot_ttl=30, host=HOST)
    assert lim.observe(0.5, False, time.time()).limit == 8
    slots = [lim.acquire(time.time()) for _ in range(9)]
    assert sum(s is not None for s in slots) == 8


def test_an_unreadable_state_starts_over(redis_client: redis.Redis) -> None:
    redis_client.hset(keys.repair_limit(HOST), mapping={"limit": "nan?"})
    lim = RepairLimiter(redis_client, LimitPolicy(cap=8, initial=3), slot_ttl=30, host=HOST)
    assert lim.state().limit == 3
    assert [lim.acquire(time.time()) is not None for _ in range(4)] == [True] * 3 + [False]
    assert lim.observe(0.1, True, time.time()).limit == 4


def test_the_whole_state_survives_the_round_trip() -> None:
    tally = Tally(1001.0, 1003.5, 5, 410, 31.0, 2)
    state = LimitState(12.5, False, 0.3, 0.1, 1000.0, 24.5, 990.0, tally)
    assert decode(encode(state)) == state
    assert decode(encode(LimitState(8.0))) == LimitState(8.0)
    partial = {**encode(state)}
    del partial["win_last"]
    assert decode(partial) is None, "a window written in part starts over"


def test_each_host_has_its_own_limit_and_slots(redis_client: redis.Redis) -> None:
    policy = LimitPolicy(cap=1, floor=1, initial=1)
    a = RepairLimiter(redis_client, policy, slot_ttl=30, host=HOST)
    b = RepairLimiter(redis_client, policy, slot_ttl=30, host=HostId("node-b"))
    now = time.time()
    assert a.acquire(now) is not None and a.acquire(now) is None
    assert b.acquire(now) is not None, "node-a's full slots do not hold node-b's repairs"
    wide = RepairLimiter(redis_client, LimitPolicy(cap=16, initial=8), slot_ttl=30, host=HOST)
    wide.observe(0.5, False, now)
    assert b.state().limit == 1, "an engine failure on node-a leaves node-b's limit alone"
