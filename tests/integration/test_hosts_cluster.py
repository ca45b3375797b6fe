"""The cluster's Redis side against the real Redis: host registry TTLs, beat's fan-out to the
live hosts' own queues, and a worker handing on work addressed to another host."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import redis
from celery import Celery

from beat import schedule
from beat.scheduler import ResilientScheduler
from healer.adapters.queue import make_celery
from healer.adapters.store import keys
from healer.adapters.store.hosts import HostRegistry
from healer.core.hosts import HostState, down_after
from healer.core.model import HostId, ServiceId
from healer.settings import Settings
from tests.support import wait_until
from tests.support.healer import HealerFactory

A, B, C = HostId("node-a"), HostId("node-b"), HostId("node-c")


def _messages(r: redis.Redis, queue: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for raw in r.lrange(queue, 0, -1):
        msg = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(msg["body"]))
        out.append((msg["headers"]["task"], kwargs))
    return out


def test_registry_keys_live_as_long_as_the_heartbeat_says(redis_client: redis.Redis) -> None:
    registry = HostRegistry(redis_client, down_after(2.0))
    registry.heartbeat(A, {"engine_name": "vm"})
    # Live info expires with the host (two missed heartbeats); the registry remembers it.
    assert 0 < redis_client.pttl(keys.host_info(A)) <= down_after(2.0) * 1000
    assert 0 < redis_client.ttl(keys.HOSTS) <= keys.HOST_FORGET_AFTER
    assert registry.info(A)["engine_name"] == "vm"
    registry.heartbeat(B, {}, now=time.time() - 60)
    states = registry.states()
    assert (states[A].state, states[B].state) == (HostState.UP, HostState.DOWN)
    assert registry.live() == [A]

    registry.publish_services(A, [ServiceId("shop/web"), ServiceId("shop/db")])
    registry.publish_services(A, [ServiceId("shop/web")])  # a reconcile replaces, not adds
    assert registry.catalogue([A, B]) == {A: {ServiceId("shop/web")}, B: set()}
    assert 0 < redis_client.ttl(keys.host_services(A)) <= keys.HOST_FORGET_AFTER

    assert registry.forget(B) and not registry.forget(B)
    assert B not in registry.states()


def test_legacy_pause_flags_become_the_hosts(redis_client: redis.Redis) -> None:
    redis_client.set(f"{keys.PREFIX}paused:shop/web", "1")
    redis_client.set(keys.paused(B, ServiceId("shop/db")), "1")
    registry = HostRegistry(redis_client, 30)
    assert registry.adopt_legacy_pauses(A) == ["shop/web"]
    assert redis_client.exists(keys.paused(A, ServiceId("shop/web")))
    assert not redis_client.exists(f"{keys.PREFIX}paused:shop/web")
    assert redis_client.exists(keys.paused(B, ServiceId("shop/db")))  # already a host's


def test_beat_fans_out_to_each_live_host_queue(redis_url: str, redis_client: redis.Redis) -> None:
    settings = Settings(redis_url=redis_url, host="node-a", heartbeat_interval=1)
    app = make_celery(settings)
    schedule.install(app, settings)
    registry = HostRegistry(redis_client, settings.host_down_after)
    registry.heartbeat(A, {})
    registry.heartbeat(B, {})
    registry.heartbeat(C, {}, now=time.time() - 3600)  # host_down: gets nothing
    beat = ResilientScheduler(app=app, lazy=True)
    for name in ("reconcile-all", "autoscale", "disk", "trim-history"):
        entry = beat.Entry(name=name, app=app, **app.conf.beat_schedule[name])
        beat.apply_async(entry, advance=False)

    for host in (A, B):
        # (kombu pushes on the left: read order is not send order)
        assert sorted(_messages(redis_client, f"healer.probe@{host}")) == [
            ("healer.probe.all", {"host": host}),
            ("healer.probe.disk", {"host": host}),
        ]
        assert _messages(redis_client, f"healer.scale@{host}") == [
            ("healer.scale.cycle", {"host": host})
        ]
    assert not redis_client.exists("healer.probe@node-c", "healer.scale@node-c")
    # Cluster-wide work goes to the shared queue, once.
    assert _messages(redis_client, "healer.probe") == [("healer.probe.trim_history", {})]


def test_a_worker_hands_on_work_for_another_host(
    healer_stack: HealerFactory, redis_client: redis.Redis
) -> None:
    suffix = os.urandom(3).hex()
    mine, other = f"w-{suffix}", f"elsewhere-{suffix}"
    stack = healer_stack(f"chtest-none-{suffix}", HEALER_HOST=mine)
    stack.worker(name="fw")
    app = Celery(broker=stack.env["REDIS_URL"])
    # On the shared queue, addressed to a host with no worker: handed on, never run here.
    app.send_task("healer.probe.all", kwargs={"host": other}, queue="healer.probe")
    wait_until(
        lambda: (
            _messages(redis_client, f"healer.probe@{other}")
            == [("healer.probe.all", {"host": other})]
        ),
        timeout=30,
        message="the task on the other host's queue:\n" + stack.tail(),
    )
    # The worker logs the hand-on once it is done: on a loaded host, after the queue shows it.
    said = f"reached host {mine}; sent on to healer.probe@{other}"
    wait_until(
        lambda: said in (stack.log_dir / "worker-fw.out").read_text(),
        timeout=10,
        message=f"{said!r} in the worker's log:\n" + stack.tail(),
    )


def test_beats_over_disjoint_host_sets_each_fan_out_to_their_own(
    redis_url: str, redis_client: redis.Redis
) -> None:
    registry = HostRegistry(redis_client, 30)
    for host in ("rack1-a", "rack1-b", "rack2-a"):
        registry.heartbeat(HostId(host), {})
    prefixes = set()
    for pattern in ("rack1-*", "rack2-*"):
        settings = Settings(redis_url=redis_url, host="x", beat_hosts=pattern)
        app = make_celery(settings)
        schedule.install(app, settings)
        prefixes.add(app.conf.redbeat_key_prefix)
        beat = ResilientScheduler(app=app, lazy=True)
        entry = beat.Entry(name="reconcile-all", app=app, **app.conf.beat_schedule["reconcile-all"])
        beat.apply_async(entry, advance=False)
    # Two schedules, two locks: both beats are active, each over its own hosts, once.
    assert len(prefixes) == 2 and keys.redbeat_prefix(()) not in prefixes
    for host in ("rack1-a", "rack1-b", "rack2-a"):
        assert _messages(redis_client, f"healer.probe@{host}") == [
            ("healer.probe.all", {"host": host})
        ]
