"""Redis `kill -9` with AOF on, while the healer works through a crash-looping service's
restart budget: the guard's episode survives every crash, so the budget is spent exactly
once and the service ends quarantined, not restarted forever.

The Redis here is the test's own redis-server (appendonly yes, appendfsync always) on a free
loopback port, killed and started again by its PID; the shared Redis is never touched.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from healer.adapters.store import guard, keys
from healer.adapters.store.history import History
from healer.core.model import Condition, HostId, ServiceId, service_id
from healer.core.repair.backoff import RestartPolicy, Verdict
from tests.chaos.conftest import HealerRun, StackFactory
from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.redis_server import RedisServer

MAX_ATTEMPTS = 3
HOST = HostId("node-a")
T = TypeVar("T")


def test_guard_state_survives_kill_9_so_no_attempt_is_granted_twice(own_redis: RedisServer) -> None:
    r = redis.Redis.from_url(own_redis.url, decode_responses=True)
    sid, cond = ServiceId("p/web"), Condition.EXITED
    policy = RestartPolicy(cooldown=0, max_attempts=MAX_ATTEMPTS, backoff_max=0, reset_after=600)
    verdicts = []
    for n in range(MAX_ATTEMPTS + 2):
        verdicts.append(guard.claim(r, HOST, sid, cond, policy, 1000.0 + n, ttl=3600).verdict)
        own_redis.kill9()
        own_redis.start()
    assert verdicts == [Verdict.ACT] * MAX_ATTEMPTS + [Verdict.QUARANTINE, Verdict.QUARANTINED]
    episode = guard.read_episode(r, HOST, sid, cond)
    assert episode.attempts == MAX_ATTEMPTS and episode.quarantined
    assert 0 < r.ttl(keys.episode(HOST, sid, cond)) <= 3600, (
        "the episode keeps its TTL across crashes"
    )
    r.close()


def test_a_crash_looping_service_gets_its_budget_once_across_redis_crashes(
    own_redis: RedisServer,
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    chaos_stack: StackFactory,
    healer_run: Callable[..., HealerRun],
    test_image: str,
) -> None:
    doomed = healthy_service_yaml(test_image, "web", command="touch /tmp/healthy; sleep 3; exit 1")
    project = compose_project(compose_yaml(doomed), wait=True)
    rec = docker_events(project.name)
    env = chaos_stack(
        own_redis.url,
        project.name,
        MAX_RESTART_ATTEMPTS=str(MAX_ATTEMPTS),
        RESTART_COOLDOWN="4",
        HEALER_BACKOFF_MAX="8",
        HEALER_TASK_TIME_LIMIT="30",
        HEALER_VISIBILITY_TIMEOUT="60",
    ).env
    run = healer_run(env, workers=2)
    # The host `healer run` serves: HEALER_HOST, by default this machine's hostname.
    host = HostId(env.get("HEALER_HOST") or socket.gethostname())
    r = redis.Redis.from_url(own_redis.url, decode_responses=True)
    history = History(r, 1000, host)
    sid = service_id(project.name, "web")

    def ask(fn: Callable[[], T], default: T) -> T:
        try:
            return fn()
        except redis.ConnectionError:
            return default

    def acted() -> int:
        return ask(lambda: sum(1 for e in history.query(service=sid) if e.outcome == "acted"), -1)

    def worker_beat() -> float:
        return ask(lambda: float(r.get(keys.heartbeat("worker", host)) or 0), 0.0)

    def acted_at_least(n: int) -> Callable[[], bool]:
        return lambda: acted() >= n

    def beat_after(t: float) -> Callable[[], bool]:
        return lambda: worker_beat() > t

    for attempt in range(1, MAX_ATTEMPTS + 1):
        rec.wait_for("start", "web", count=attempt, timeout=120)
        # The attempt is recorded; now crash Redis between it and the next one.
        wait_until(acted_at_least(attempt), timeout=60, message=f"attempt {attempt}")
        own_redis.kill9()
        own_redis.start()
        restarted = time.time()
        # Positive signal: a reconcile ran again on the restarted Redis.
        wait_until(
            beat_after(restarted),
            timeout=120,
            message="a reconcile after the Redis crash:\n" + run.tail(),
        )

    def quarantined() -> bool:
        return ask(
            lambda: any(e.outcome == "quarantined" for e in history.query(service=sid)), False
        )

    wait_until(quarantined, timeout=120, message="quarantine:\n" + run.tail())
    # Positive signal that the healer kept looking after the quarantine: more reconciles.
    seen = worker_beat()
    wait_until(lambda: worker_beat() > seen + 2, timeout=60, message="reconciles after quarantine")
    starts = rec.events("start", "web")
    assert len(starts) == MAX_ATTEMPTS, rec.describe()
    episode = guard.read_episode(r, host, sid, Condition.EXITED)
    assert episode.attempts == MAX_ATTEMPTS and episode.quarantined
    r.close()
