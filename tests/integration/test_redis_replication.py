"""The replication wait and the failover watch against the real Redis (one server, no
replica: what a Sentinel master looks like when its replicas are gone or lagging)."""

from __future__ import annotations

import time

import redis

from healer.adapters.redisha.failover import FailoverWatch
from healer.adapters.store import keys
from healer.adapters.store.guard import Guard
from healer.adapters.store.history import History
from healer.adapters.store.repair_limit import RepairLimiter
from healer.adapters.store.requests import RequestStore
from healer.core.model import Condition, HostId, ServiceId
from healer.core.repair.backoff import RestartPolicy, Verdict
from healer.core.repair.concurrency import LimitPolicy

HOST = HostId("node-a")
SID = ServiceId("proj/web")
POLICY = RestartPolicy(cooldown=300, max_attempts=3, backoff_max=3600, reset_after=600)


def _guard(r: redis.Redis, replicas: int) -> Guard:
    limiter = RepairLimiter(r, LimitPolicy(cap=2, floor=2, initial=2), slot_ttl=5, host=HOST)
    return Guard(r, limiter, wait_replicas=replicas, wait_timeout=0.05)


def test_an_unconfirmed_claim_still_acts_and_is_counted(redis_client: redis.Redis) -> None:
    redis_client.delete(keys.UNREPLICATED_CLAIMS)
    started = time.monotonic()
    decision = _guard(redis_client, 1).claim(SID, Condition.EXITED, POLICY, time.time(), ttl=60)
    assert decision.verdict == Verdict.ACT
    assert time.monotonic() - started >= 0.05, "WAIT blocked for its timeout"
    assert redis_client.get(keys.UNREPLICATED_CLAIMS) == "1"
    # A claim that does not act (cooldown) waits for nothing and counts nothing.
    again = _guard(redis_client, 1).claim(SID, Condition.EXITED, POLICY, time.time(), ttl=60)
    assert again.verdict != Verdict.ACT and redis_client.get(keys.UNREPLICATED_CLAIMS) == "1"


def test_without_a_wait_nothing_is_counted(redis_client: redis.Redis) -> None:
    redis_client.delete(keys.UNREPLICATED_CLAIMS)
    sid = ServiceId("proj/other")
    decision = _guard(redis_client, 0).claim(sid, Condition.EXITED, POLICY, time.time(), ttl=60)
    assert decision.verdict == Verdict.ACT and redis_client.get(keys.UNREPLICATED_CLAIMS) is None


def test_a_request_is_confirmed_only_when_a_replica_has_it(redis_client: redis.Redis) -> None:
    waiting = RequestStore(redis_client, wait_replicas=1, wait_timeout=0.05)
    rid = waiting.open("proj/web", "restart", "api")
    assert not waiting.replicated(rid)
    assert RequestStore(redis_client).replicated(rid)  # one Redis: no replica asked for


def test_a_new_master_is_recorded_once(redis_client: redis.Redis) -> None:
    redis_client.delete(keys.REDIS_MASTER, keys.REDIS_FAILOVERS)
    history = History(redis_client, 1000, HOST)
    first, second = FailoverWatch(redis_client, history), FailoverWatch(redis_client, history)
    assert first.check() is None and second.check() is None  # the first sighting
    redis_client.set(keys.REDIS_MASTER, "10.0.0.9:6379")  # as the old master left it
    assert first.check() == "10.0.0.9:6379"
    assert second.check() is None, "another process saw the same failover: not counted again"
    assert redis_client.get(keys.REDIS_FAILOVERS) == "1"
    entries = [e for e in history.query(service="redis") if e.reason == "redis_failover"]
    assert len(entries) == 1 and "from 10.0.0.9:6379 to" in entries[0].detail
