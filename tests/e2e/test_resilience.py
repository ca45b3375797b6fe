"""Resilience of the healer itself (docs/architecture.md, Guarantees): a Redis restart, a
worker killed mid-repair, two beats. Every healer role runs as a real process; outcomes are
asserted on Docker's event stream and on what the healer recorded in Redis."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    unique_project_name,
    wait_until,
)
from tests.support.healer import HealerFactory, HealerStack

# --- helpers -------------------------------------------------------------------------------


class OwnRedis:
    """A throw-away redis-server on 127.0.0.1 that a test may kill and start again."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log_dir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            wait_until(client.ping, timeout=10, ignore=(redis.RedisError,), message=self.url)
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _log(stack: HealerStack, role: str) -> str:
    path = stack.log_dir / f"{role}.out"
    return path.read_text(errors="replace") if path.exists() else ""


def _received(stack: HealerStack, task: str, role: str = "worker-w1") -> int:
    """How many ``task`` messages the worker has received (one log line each)."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] received", _log(stack, role)))


def _alive(stack: HealerStack) -> dict[str, int | None]:
    """Exit code (None = running) of every healer process the stack started."""
    return {role: proc.poll() for role, proc in stack.procs.items()}


def _history(stack: HealerStack, service: str) -> list[dict[str, object]]:
    return stack.history(service)


def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


# --- 1. Redis restart ----------------------------------------------------------------------


def test_healer_survives_a_redis_restart_and_still_repairs(
    own_redis: OwnRedis,  # first: torn down after the healer's processes
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    """`healer run` (what an operator starts) carries on after Redis dies and comes back
    empty. Beat and the events watcher reconnect on their own (beat through the healer's
    ResilientScheduler); a Celery worker can still die on a connection lost mid-ack — an
    upstream kombu/celery race — and the run supervisor restarts it, so no operator acts."""
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(
        project.name,
        REDIS_URL=own_redis.url,
        WATCHDOG_INTERVAL="1",
        HEALER_API_PORT=str(free_port()),
    )
    run = stack.start("run", [sys.executable, "-m", "healer", "run", "--workers", "2"])
    wait_until(
        lambda: _received(stack, "healer.probe.all", role="run") >= 2,
        timeout=40,
        message="reconcile probes before the restart:\n" + stack.tail(),
    )

    # Redis dies hard and comes back empty: no lock, no cursor, no schedule, no queues.
    own_redis.stop(signal.SIGKILL)
    time.sleep(2)
    own_redis.start()

    project.container("web").kill()
    start = rec.wait_for("start", "web", timeout=45)[0]
    assert start["time_ns"] > rec.events("die", "web")[0]["time_ns"]
    assert project.container("web").status == "running"
    # The repair was decided by the healer, recorded in the new (empty) Redis.
    acted = [e for e in _history(stack, "web") if e["outcome"] == "acted"]
    assert acted, stack.tail()
    # Reconcile carries on too: beat still schedules probe.all and a worker runs it.
    before = _received(stack, "healer.probe.all", role="run")
    wait_until(
        lambda: _received(stack, "healer.probe.all", role="run") >= before + 2,
        timeout=30,
        message="reconcile probes after the Redis restart:\n" + stack.tail(),
    )
    assert run.poll() is None, stack.tail()
    beat_crashes = [line for line in _log(stack, "run").splitlines() if "beat exited" in line]
    assert not beat_crashes, f"beat died with Redis: {beat_crashes}"


# --- 2. worker killed mid-repair -----------------------------------------------------------

STOP_GRACE = 6  # seconds a restart of the slow service takes (its PID 1 ignores SIGTERM)
LOCK_TTL = 12  # > one repair (STOP_GRACE + start + verify), so a live repair keeps its lock
TIME_LIMIT = 15  # > one repair
VISIBILITY = 20  # > TIME_LIMIT (the settings refuse anything else)


def _slow_service_yaml(image: str, name: str) -> str:
    return (
        f"  {name}:\n"
        f"    image: {json.dumps(image)}\n"
        "    init: false\n"
        "    network_mode: none\n"
        f"    stop_grace_period: {STOP_GRACE}s\n"
        "    command: " + json.dumps(["sh", "-c", 'trap "" TERM; while :; do sleep 1; done']) + "\n"
    )


@pytest.mark.parametrize("victim", ["pool-child", "whole-worker"])
def test_repair_request_survives_its_worker_being_killed_mid_task(
    victim: str,
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    """What guarantees the outcome:

    - The CLI/API writes ``healer:request:<id>`` (status queued) and enqueues the task with
      task id == request id. The task is acked late (``task_acks_late``): until it returns,
      the message stays in kombu's unacked set in Redis.
    - ``pool-child`` (``HEALER_WORKER_POOL=prefork``): the pool process dies with SIGKILL;
      the worker's main process sees the pool child exit and, because of
      ``task_reject_on_worker_lost``, rejects the message with requeue, so it is delivered
      again at once (to the same worker).
    - ``whole-worker``: nobody is left to reject it. The message sits in the unacked set
      until the broker's visibility timeout (``HEALER_VISIBILITY_TIMEOUT``) has passed; a
      worker's kombu sweep then restores it to the queue (a starting worker sweeps once at
      start; afterwards only every unacked_restore_interval x throttle = 100 s, hence the new
      worker is started once the visibility timeout is over).
    - The redelivered run finds the service lock still held by the dead run (owner-token
      lock, no release happened) and waits for it (``Busy`` → retry every second) until its
      TTL ends (``HEALER_LOCK_TTL``). It then claims the slot with the same request id: the
      dead run had stored it as the episode's ``last_request``, so ``backoff.decide`` answers
      REDELIVERED: the dead run may have acted (here it did: the engine finishes a restart
      whose caller died), so the request acts at most once. It verifies that the container
      was started since the claim and ``finish`` marks the request done, acted.
    """
    service = "slow"
    project = compose_project(compose_yaml(_slow_service_yaml(test_image, service)))
    wait_until(lambda: project.container(service).status == "running", timeout=30)
    rec = docker_events(project.name)
    stack = healer_stack(
        project.name,
        RESTART_COOLDOWN="300",
        HEALER_LOCK_TTL=str(LOCK_TTL),
        HEALER_TASK_TIME_LIMIT=str(TIME_LIMIT),
        HEALER_VISIBILITY_TIMEOUT=str(VISIBILITY),
        HEALER_VERIFY_TIMEOUT="10",
        # Only a prefork pool has a child to kill; the default threads pool is the
        # whole-worker case (one process).
        HEALER_WORKER_POOL="prefork" if victim == "pool-child" else "threads",
    )
    worker = stack.worker("w1", concurrency=1)
    r = redis.Redis.from_url(stack.env["REDIS_URL"], decode_responses=True)
    try:
        out = stack.cli("repair", service).stdout
        match = re.search(r"as request ([0-9a-f]+)", out)
        assert match, out
        request_id = match.group(1)
        assert r.hget(f"healer:request:{request_id}", "status") == "queued"
        wait_until(
            lambda: f"healer.repair.service[{request_id}] received" in _log(stack, "worker-w1"),
            timeout=15,
            message="the repair task to start:\n" + stack.tail(),
        )
        delivered_at = time.monotonic()
        # The restart is under way: Docker sent SIGTERM, which the service ignores.
        rec.wait_for("kill", service, timeout=10)
        # Positive signal: the repair holds the service's lock and is acting right now.
        wait_until(
            lambda: (
                # Keys of this machine's host (HEALER_HOST): whatever its name, one of each.
                any(r.scan_iter(match=f"healer:lock:*/{project.name}/{service}"))
                and any(r.zcard(k) > 0 for k in r.scan_iter(match="healer:repair_slots:*"))
            ),
            timeout=10,
            message="the repair to be acting",
        )
        assert r.hget(f"healer:request:{request_id}", "status") == "queued"

        if victim == "pool-child":
            children = _pool_children(worker.pid)
            assert len(children) == 1, children
            killed_at = time.monotonic()
            subprocess.run(["kill", "-KILL", str(children[0])], check=True)
        else:
            killed_at = time.monotonic()
            stack.kill("worker-w1", signal.SIGKILL)  # the whole process group
            time.sleep(max(0.0, delivered_at + VISIBILITY + 1 - time.monotonic()))
            stack.worker("w2", concurrency=1)

        def done() -> dict[str, str]:
            data = r.hgetall(f"healer:request:{request_id}")
            return data if data.get("status") == "done" else {}

        final = wait_until(
            done, timeout=60, interval=0.5, message="a recorded outcome:\n" + stack.tail(80)
        )
        took = time.monotonic() - killed_at
    finally:
        r.close()

    assert final["outcome"] == "acted", final
    assert "redelivered" in final["reason"], final
    assert "not repeated" in final["detail"], final
    entries = [e for e in _history(stack, service) if e.get("request_id") == request_id]
    outcomes = sorted(str(e["outcome"]) for e in entries)
    assert outcomes == ["acted", "requested"], entries
    acted = next(e for e in entries if e["outcome"] == "acted")
    assert acted["attempt"] == 1, "the redelivered run reused the claimed slot"
    # The restart the dead run asked for completed (the outcome is recorded only after the
    # container was seen started since the claim), and the redelivered run did not restart it
    # again: exactly one SIGTERM.
    rec.wait_for("start", service, timeout=5)
    sigterms = [e for e in rec.events("kill", service) if e["attributes"].get("signal") == "15"]
    assert len(sigterms) == 1, [(e["action"], e["attributes"].get("signal")) for e in rec.events()]
    assert project.container(service).status == "running"
    assert took < 60


# --- 3. two beats ----------------------------------------------------------------------


def _wait_rate(count: Callable[[], int], seconds: float) -> float:
    start_n, start_t = count(), time.monotonic()
    time.sleep(seconds)
    return (count() - start_n) / (time.monotonic() - start_t)


def _sent(stack: HealerStack, task: str, *roles: str) -> int:
    """How many ``task`` messages the beats ``roles`` sent (one log line each). What a beat
    sends does not depend on how busy the machine's worker is, so a rate of it holds on a
    loaded machine too."""
    pattern = rf"Sending due task \S+ \({re.escape(task)}\)"
    return sum(len(re.findall(pattern, _log(stack, role))) for role in roles)


def test_two_beats_schedule_once_and_the_standby_takes_over(
    healer_stack: HealerFactory,
) -> None:
    interval = 1
    lock_timeout = max(30, 5 * interval)  # redbeat_lock_timeout in healer/adapters/queue.py
    stack = healer_stack(unique_project_name("nobody"), WATCHDOG_INTERVAL=str(interval))
    stack.worker("w1", concurrency=2)
    stack.beat("beat1")
    stack.beat("beat2")

    def probes() -> int:
        return _sent(stack, "healer.probe.all", "beat1", "beat2")

    wait_until(
        lambda: _received(stack, "healer.probe.all") >= 2,
        timeout=30,
        message="first probes:\n" + stack.tail(),
    )
    wait_until(
        lambda: "Starting..." in _log(stack, "beat1") and "Starting..." in _log(stack, "beat2"),
        timeout=15,
        message="both beats to start:\n" + stack.tail(),
    )
    rate = _wait_rate(probes, 8)
    assert 0.5 <= rate <= 1.5, f"{rate:.2f} probe.all/s with two beats\n{stack.tail()}"

    holders = [b for b in ("beat1", "beat2") if "beat: Acquired lock" in _log(stack, b)]
    assert len(holders) == 1, holders
    active = holders[0]
    standby = "beat2" if active == "beat1" else "beat1"
    assert "Sending due task" not in _log(stack, standby), "a standby beat must not schedule"

    stack.kill(active, signal.SIGKILL)  # no chance to release the lock
    killed_at = time.monotonic()
    wait_until(
        lambda: "beat: Acquired lock" in _log(stack, standby),
        timeout=lock_timeout + 8,
        interval=0.5,
        message="the standby beat to take the lock:\n" + stack.tail(),
    )
    takeover = time.monotonic() - killed_at
    assert takeover <= lock_timeout + 5, takeover
    after = probes()
    wait_until(
        lambda: probes() >= after + 3,
        timeout=10,
        message="probe.all after the takeover:\n" + stack.tail(),
    )
    rate = _wait_rate(probes, 4)
    assert 0.5 <= rate <= 1.5, f"{rate:.2f} probe.all/s after the takeover"
    assert stack.procs[standby].poll() is None
