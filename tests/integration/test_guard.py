"""The guard's Redis primitives against the real Redis: owner-token locks, repair slots,
atomic claims under contention, and TTLs on everything that counts."""

from __future__ import annotations

import threading
import time

import redis

from healer.adapters.store import guard, keys
from healer.adapters.store.repair_limit import RepairLimiter
from healer.core.model import Condition, HostId, ServiceId
from healer.core.repair.backoff import RestartPolicy, Verdict
from healer.core.repair.concurrency import LimitPolicy

HOST = HostId("node-a")
SID = ServiceId("proj/web")
POLICY = RestartPolicy(cooldown=300, max_attempts=3, backoff_max=3600, reset_after=600)


def test_a_lock_is_released_only_by_its_owner(redis_client: redis.Redis) -> None:
    a = guard.Lock(redis_client, keys.lock(HOST, SID), ttl=0.5)
    b = guard.Lock(redis_client, keys.lock(HOST, SID), ttl=5)
    assert a.acquire() and not b.acquire()
    time.sleep(0.6)  # a's TTL ran out while "a" still thinks it holds the lock
    assert b.acquire()
    assert not a.release(), "an expired owner must not delete the new owner's lock"
    assert redis_client.get(keys.lock(HOST, SID)) == b.token
    assert b.release() and redis_client.get(keys.lock(HOST, SID)) is None


def test_concurrent_claims_let_exactly_one_repair_act(redis_client: redis.Redis) -> None:
    results: list[Verdict] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        r = redis.Redis.from_url(_url(redis_client), decode_responses=True)
        barrier.wait()
        results.append(
            guard.claim(r, HOST, SID, Condition.UNHEALTHY, POLICY, time.time(), ttl=60).verdict
        )

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Verdict.ACT) == 1, results
    assert set(results) == {Verdict.ACT, Verdict.WAIT}
    assert 0 < redis_client.ttl(keys.episode(HOST, SID, Condition.UNHEALTHY)) <= 60


def test_a_redelivered_request_is_told_so_and_a_new_one_waits(
    redis_client: redis.Redis,
) -> None:
    now = time.time()
    first = guard.claim(
        redis_client, HOST, SID, Condition.EXITED, POLICY, now, request_id="r1", ttl=60
    )
    again = guard.claim(
        redis_client, HOST, SID, Condition.EXITED, POLICY, now + 1, request_id="r1", ttl=60
    )
    other = guard.claim(
        redis_client, HOST, SID, Condition.EXITED, POLICY, now + 1, request_id="r2", ttl=60
    )
    assert (first.verdict, again.verdict, other.verdict) == (
        Verdict.ACT,
        Verdict.REDELIVERED,
        Verdict.WAIT,
    )
    assert guard.read_episode(redis_client, HOST, SID, Condition.EXITED).attempts == 1


def test_repair_slots_cap_concurrency_and_free_themselves(redis_client: redis.Redis) -> None:
    # A fixed limit of 2 (HEALER_REPAIR_ADAPTIVE=false); the adaptive one: test_repair_limit.
    fixed = LimitPolicy(cap=2, floor=2, initial=2)
    slots = guard.Guard(redis_client, RepairLimiter(redis_client, fixed, slot_ttl=0.5, host=HOST))
    now = time.time()
    a, b = slots.take_slot(now), slots.take_slot(now)
    assert a and b and slots.take_slot(now) is None
    slots.release_slot(a)
    assert slots.take_slot(now) is not None
    # a holder that died frees its slot once the slot's TTL has passed
    assert slots.take_slot(now + 1) is not None
    assert redis_client.pttl(keys.repair_slots(HOST)) > 0


def test_reset_ends_episodes_and_quarantine(redis_client: redis.Redis) -> None:
    now = time.time()
    for i in range(4):
        guard.claim(redis_client, HOST, SID, Condition.EXITED, POLICY, now + i * 10_000, ttl=60)
    assert guard.read_episode(redis_client, HOST, SID, Condition.EXITED).quarantined
    assert guard.reset(redis_client, HOST, SID) >= 1
    assert guard.read_episode(redis_client, HOST, SID, Condition.EXITED).attempts == 0


def _url(r: redis.Redis) -> str:
    kw = r.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"
