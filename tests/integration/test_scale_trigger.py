"""The between-cycles scale check against the real Redis: watches written by a cycle, the
broker backlog read with LLEN, one cycle asked for per service per hold."""

from __future__ import annotations

import redis
from celery import Celery

from healer.adapters.scaling.queue_depth import CeleryQueues
from healer.adapters.scaling.state import ScaleStore
from healer.adapters.scaling.trigger import ScaleTrigger
from healer.adapters.store import keys
from healer.core.model import HostId, ServiceId
from healer.core.scaling.trigger import Watch

HOST = HostId("node-a")
SID = ServiceId("proj/worker")
OTHER = ServiceId("proj/idle")


def _trigger(r: redis.Redis, url: str, sent: list[ServiceId]) -> tuple[ScaleStore, ScaleTrigger]:
    store = ScaleStore(r, HOST)
    queues = CeleryQueues(r, Celery(broker=url))
    return store, ScaleTrigger(store, queues.backlog, sent.append)


def test_a_crossing_asks_for_one_cycle_of_that_service_per_hold(
    redis_client: redis.Redis, redis_url: str
) -> None:
    sent: list[ServiceId] = []
    store, trigger = _trigger(redis_client, redis_url, sent)
    store.write_watches(
        {
            SID: Watch(SID, ("emails",), 10.0, 1, 4),
            OTHER: Watch(OTHER, ("reports",), 10.0, 1, 4),
        },
        interval=60,
    )
    assert trigger.check() == []
    redis_client.rpush("emails", *["task"] * 12)  # 12 > 1 x 10 x 1.1
    redis_client.rpush("reports", *["task"] * 5)
    assert trigger.check() == [SID]
    assert trigger.check() == [], "held: the cycle asked for has not acted yet"
    assert sent == [SID]
    assert 0 < redis_client.ttl(keys.scale_trigger(HOST, SID)) <= keys.SCALE_TRIGGER_HOLD


def test_a_full_cycle_replaces_the_watches_and_a_one_service_cycle_updates_its_own(
    redis_client: redis.Redis,
) -> None:
    store = ScaleStore(redis_client, HOST)
    store.write_watches({SID: Watch(SID, ("q",), 10.0, 1, 4)}, interval=60)
    store.write_watches({OTHER: Watch(OTHER, ("q",), 10.0, 2, 4)}, interval=60, whole=False)
    assert set(store.watches()) == {SID, OTHER}
    store.write_watches({OTHER: Watch(OTHER, ("q",), 10.0, 3, 4)}, interval=60)
    assert store.watches() == {OTHER: Watch(OTHER, ("q",), 10.0, 3, 4)}
    assert redis_client.ttl(keys.scale_watch(HOST)) > 0
    redis_client.hset(keys.scale_watch(HOST), "broken/svc", "not json")
    assert set(store.watches()) == {OTHER}, "an unreadable entry is skipped, not fatal"


def test_scale_ups_are_kept_for_the_rate_limit(redis_client: redis.Redis) -> None:
    store = ScaleStore(redis_client, HOST)
    store.record_scale_up(SID, 3, 1000.0)
    store.record_scale_up(SID, 2, 1010.0)
    assert store.scale_ups(SID, 1012.0) == ((1000.0, 3), (1010.0, 2))
    assert store.scale_ups(SID, 1000.0 + 3600 + 5) == ((1010.0, 2),)
    assert redis_client.ttl(keys.scale_ups(HOST, SID)) > 0


def test_watches_and_triggers_belong_to_their_host(redis_client: redis.Redis) -> None:
    store, other = ScaleStore(redis_client, HOST), ScaleStore(redis_client, HostId("node-b"))
    store.write_watches({SID: Watch(SID, ("q",), 10.0, 1, 4)}, interval=60)
    other.write_watches({OTHER: Watch(OTHER, ("q",), 10.0, 1, 4)}, interval=60)
    assert set(store.watches()) == {SID} and set(other.watches()) == {OTHER}
    assert store.claim_trigger(SID) and other.claim_trigger(SID), "the same sid on two hosts"
