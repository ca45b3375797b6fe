"""A worker serves one Docker host (HEALER_HOST): it consumes that host's queues whatever
`-Q` lists, and announces the host to the cluster with a heartbeat while it runs."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import redis
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown

from healer.adapters.docker.engine import docker_client
from healer.adapters.redisha.failover import FailoverWatch
from healer.adapters.store.connection import connect, target
from healer.adapters.store.history import History
from healer.adapters.store.hosts import HostRegistry
from healer.core.queues import host_queues
from healer.engine.repair.actions import STRATEGIES_FIELD, published_strategies
from workers.app import settings

log = logging.getLogger("healer.host")

_stop = threading.Event()


@celeryd_after_setup.connect
def _consume_host_queues(sender: str, instance: Any, **_: Any) -> None:
    # `-Q healer.probe,healer.repair,healer.scale` (every deployment before hosts) keeps
    # working: the host's own queues are added to whatever the command line selected.
    for name in host_queues(settings.host_id):
        instance.app.amqp.queues.select_add(name)
    log.info("worker %s serves host %s", sender, settings.host)


@worker_ready.connect
def _start_heartbeat(**_: Any) -> None:
    _stop.clear()
    r = connect(target(settings))
    registry = HostRegistry(r, settings.host_down_after)
    adopted = registry.adopt_legacy_pauses(settings.host_id)
    if adopted:
        log.warning("pause flags from before hosts now belong to %s: %s", settings.host, adopted)
    info = {"pid": str(os.getpid()), "docker_host": settings.docker_host or "", **_engine()}
    watch = FailoverWatch(r, History(r, settings.history_maxlen, settings.host_id))
    args = (registry, info, watch)
    threading.Thread(target=_beat, args=args, daemon=True, name="host-hb").start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop.set()


def _beat(registry: HostRegistry, info: dict[str, str], watch: FailoverWatch) -> None:
    while True:
        try:
            registry.heartbeat(settings.host_id, {**info, **_strategies()})
            watch.check()  # a Sentinel failover shows in the history and metrics
        except redis.RedisError as exc:
            log.warning("host heartbeat not recorded: %s", exc)
        if _stop.wait(settings.heartbeat_interval):
            return


def _strategies() -> dict[str, str]:
    """Published each heartbeat, so a plugin installed later shows within one or two: the
    API checks a requested strategy against the host that will run it."""
    try:
        return {STRATEGIES_FIELD: published_strategies()}
    except Exception as exc:  # unreadable package metadata must not stop the heartbeat
        log.warning("installed strategies not published: %s", exc)
        return {}


def _engine() -> dict[str, str]:
    """What the engine calls itself (informational: engines may share a Name)."""
    try:
        client = docker_client(settings.docker_host)
        try:
            data = client.info()
        finally:
            client.close()
        return {"engine_name": str(data.get("Name", "")), "engine_id": str(data.get("ID", ""))}
    except Exception as exc:  # the heartbeat says the worker is up; a slow engine is a probe's news
        log.warning("engine info unavailable: %s", exc)
        return {}
