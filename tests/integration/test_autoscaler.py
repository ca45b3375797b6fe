"""The autoscaler against the real Redis and Docker engine.

Most tests call `scale_cycle` in-process with a simulated clock (`now`), so stabilisation
windows are deterministic; the Docker side (create, start, health, stop, remove) and the
broker side (LLEN of kombu's lists, Celery remote control) are real. One test runs the
`healer.scale.cycle` task in a real Celery worker process. The drain test uses a real Celery
worker process on the host that carries the hostname of a replica container (the busybox
image has no Python to run Celery inside), so the container's removal is gated on a real drain.
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis
from celery import Celery

from healer.adapters.queue import make_celery
from healer.adapters.scaling.queue_depth import priority_keys
from healer.adapters.store import keys
from healer.core.model import ServiceId, service_id
from healer.engine.context import Healer, build
from healer.engine.scaling.cycle import (
    CycleResult,
    ScaleError,
    ScalerOptions,
    ServiceResult,
    scale_cycle,
    scale_to,
)
from healer.engine.status import status as live_status
from healer.settings import Settings
from tests.support import (
    ComposeFactory,
    ComposeProject,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory, NoDispatch

T0 = 1_000_000.0  # simulated clock of the in-process cycles
OPTIONS = ScalerOptions(interval=1, drain_timeout=30, start_timeout=30, lock_wait=5)


@pytest.fixture
def make_healer(redis_url: str, tmp_path: Path) -> Iterator[Callable[[ComposeProject], Healer]]:
    built: list[Healer] = []

    def make(project: ComposeProject) -> Healer:
        s = Settings(redis_url=redis_url, projects=project.name, log_dir=tmp_path / "logs")
        h = build(s, NoDispatch())
        built.append(h)
        return h

    yield make
    for h in built:
        h.stores.close()
        h.engine.client.close()


@pytest.fixture
def celery_app(redis_url: str) -> Iterator[Celery]:
    app = make_celery(Settings(redis_url=redis_url))
    yield app
    app.close()


def queue_service(image: str, queue: str, **labels: str) -> str:
    base = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": queue,
        "healer.scale.target": "10",
        "healer.scale.max": "4",
        "healer.scale.window": "3s",
        "healer.scale.cooldown": "0",
    }
    return compose_yaml(healthy_service_yaml(image, "worker", labels={**base, **labels}))


def running_names(project: ComposeProject, service: str = "worker") -> list[str]:
    return [c.name for c in project.containers(service) if c.status == "running"]


def ps_names(project: ComposeProject) -> list[str]:
    return sorted(project.run("ps", "--format", "{{.Name}}").stdout.split())


def push(app: Celery, queue: str, n: int) -> None:
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task("noop", queue=queue, producer=producer)


def clear(r: redis.Redis, queue: str) -> None:
    r.delete(*priority_keys(queue))


def unique_queue() -> str:
    return f"chtest-jobs-{uuid.uuid4().hex[:8]}"


# --- burst, oscillation, stabilised shrink ---------------------------------------------


def test_queue_burst_scales_up_at_once_and_down_only_after_the_window(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[[ComposeProject], Healer],
    celery_app: Celery,
    redis_client: redis.Redis,
) -> None:
    q = unique_queue()
    project = compose_project(queue_service(test_image, q), "scale")
    h = make_healer(project)
    sid = service_id(project.name, "worker")
    queues = h.stores.celery_queues(celery_app, inspect_timeout=0.3)

    def cycle(t: float) -> CycleResult:
        return scale_cycle(h, T0 + t, queues=queues, options=OPTIONS)

    push(celery_app, q, 40)
    assert queues.measure([q]).backlog == 40
    started = time.monotonic()
    result = cycle(0)
    took = time.monotonic() - started
    assert [(s.outcome, s.current, s.desired) for s in result.services] == [("scaled", 1, 4)]
    names = [f"{project.name}-worker-{n}" for n in range(1, 5)]
    assert running_names(project) == names, "one cycle brings the service to max"
    assert ps_names(project) == names, "docker-compose ps lists the healer's replicas"
    assert took < 30, f"scale-up incl. start and health took {took:.1f}s"

    # Load that comes and goes faster than the 3 s window never scales down: no flapping.
    for t, backlog in ((1, 0), (2, 40), (3, 0), (4, 40), (5, 0), (6, 0), (7.5, 0)):
        clear(redis_client, q)
        push(celery_app, q, backlog)
        out = cycle(t).services[0]
        assert (out.outcome, out.desired) == ("held", 4), (t, out)
    assert len(running_names(project)) == 4
    assert h.stores.scale.scale_events() == {(sid, "up"): 1}

    out = cycle(8.5).services[0]  # the whole window now says 0 tasks
    assert (out.outcome, out.current, out.desired) == ("scaled", 4, 1)
    assert running_names(project) == names[:1], "the highest numbers go first"
    assert [c.name for c in project.containers("worker")] == names[:1], "removed, not stopped"
    assert h.stores.scale.scale_events() == {(sid, "up"): 1, (sid, "down"): 1}

    scaled = [r for r in h.history.query(service=sid) if r.outcome == "scaled"]
    assert [r.action for r in scaled] == ["scale_down", "scale_up"]
    assert "backlog 40" in scaled[1].detail and "1 -> 4" in scaled[1].reason
    status = h.stores.scale.status()[sid]
    assert status["current"] == 4 and status["desired"] == 1 and status["metric"] == "queue"
    assert live_status(h)[sid]["scale"] == status, "`healer status` and GET /status show it"
    gauges = redis_client.hgetall(keys.replicas(h.host))
    assert gauges[f"{sid}|current"] == "4" and gauges[f"{sid}|max"] == "4"
    for key in redis_client.scan_iter("healer:*"):
        # The history stream is the one key without a TTL: bounded by MAXLEN, trimmed by age.
        assert key == keys.HISTORY or redis_client.ttl(key) > 0, f"{key} has no TTL"


def test_a_backlog_that_fills_the_ceiling_is_measured_without_asking_the_workers(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[[ComposeProject], Healer],
    celery_app: Celery,
) -> None:
    # Each inspect broadcast waits its whole timeout for replies; below the ceiling the
    # workers are asked (reserved + active), at or above it they are not.
    q = unique_queue()
    project = compose_project(queue_service(test_image, q), "scale")
    h = make_healer(project)
    queues = h.stores.celery_queues(celery_app, inspect_timeout=1.5)
    push(celery_app, q, 40)

    started = time.monotonic()
    below = queues.measure([q], enough=41)
    asked = time.monotonic() - started
    started = time.monotonic()
    at = queues.measure([q], enough=40)
    skipped = time.monotonic() - started

    assert below.inspected and below.backlog == 40 and asked >= 1.5
    assert not at.inspected and at.backlog == 40 and skipped < 0.5, skipped
    result = scale_cycle(h, T0, queues=queues, options=OPTIONS)
    assert [(s.outcome, s.desired) for s in result.services] == [("scaled", 4)]
    scaled = [r for r in h.history.query() if r.outcome == "scaled"]
    assert "in flight not counted" in scaled[0].detail, scaled[0].detail


def test_bounds_hold_under_absurd_metrics(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[[ComposeProject], Healer],
    celery_app: Celery,
) -> None:
    labels = {
        "healer.scale.metric": "cpu",
        "healer.scale.min": "2",
        "healer.scale.max": "3",
        "healer.scale.window": "0",
        "healer.scale.cooldown": "0",
    }
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web", labels=labels)))
    h = make_healer(project)
    queues = h.stores.celery_queues(celery_app, inspect_timeout=0.3)
    readings = iter([math.nan, 1e12, math.inf, -5.0, 0.0, 0.0])

    def source(metric: str, containers: object) -> float:
        return next(readings)

    expected = [2, 3, 3, 3, 2, 2]  # NaN: min still enforced; huge: capped; 0: never below min
    for t, want in enumerate(expected):
        scale_cycle(h, T0 + t, metric_source=source, queues=queues, options=OPTIONS)
        assert len(running_names(project, "web")) == want, (t, want)


def test_scale_to_respects_bounds_unless_forced_and_clones_volumes_as_compose_does(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[[ComposeProject], Healer],
    docker_client: docker.DockerClient,
    celery_app: Celery,
) -> None:
    extra = "volumes:\n  - data:/data\n  - /scratch\nstop_grace_period: 2s\nmem_limit: 64m"
    # Replicas share the named volume only because the label says that is safe.
    labels = {"healer.scale.max": "2", "healer.scale.shared_storage": "true"}
    service = healthy_service_yaml(test_image, "web", extra, labels=labels)
    project = compose_project(compose_yaml(service, top_level="volumes:\n  data: {}"))
    h = make_healer(project)
    sid = service_id(project.name, "web")
    queues = h.stores.celery_queues(celery_app, inspect_timeout=0.3)

    def go(n: int, force: bool = False) -> ServiceResult:
        return scale_to(h, sid, n, force, queues=queues, options=OPTIONS)

    with pytest.raises(ScaleError, match=r"3 replicas is outside .*bounds 1-2.*--force"):
        go(3)
    with pytest.raises(ScaleError, match=r"does not scale to zero: set healer\.scale\.min=0"):
        go(0, True)
    with pytest.raises(ScaleError, match="no container of this service"):
        scale_to(h, ServiceId(f"{project.name}/nope"), 1, queues=queues, options=OPTIONS)
    assert go(3, True).outcome == "scaled"
    containers = project.containers("web")
    assert [c.name for c in containers] == [f"{project.name}-web-{n}" for n in (1, 2, 3)]

    mounts = [{m["Destination"]: m["Name"] for m in c.attrs["Mounts"]} for c in containers]
    assert len({m["/data"] for m in mounts}) == 1, "the named volume is shared"
    assert len({m["/scratch"] for m in mounts}) == 3, "each replica has its own anonymous one"
    first, third = containers[0].attrs, containers[2].attrs
    for key in ("Memory", "Init", "Tmpfs", "NetworkMode", "RestartPolicy"):
        assert third["HostConfig"][key] == first["HostConfig"][key], key
    assert third["Config"]["StopTimeout"] == 2
    assert third["Config"]["Healthcheck"] == first["Config"]["Healthcheck"]

    try:
        assert go(1).outcome == "scaled"
        assert [c.name for c in project.containers("web")] == [f"{project.name}-web-1"]
        assert docker_client.volumes.get(mounts[2]["/scratch"]), "volumes are never removed"
    finally:
        for m in mounts[1:]:  # anonymous volumes of removed replicas are the test's to clean
            docker_client.volumes.get(m["/scratch"]).remove(force=True)


def test_a_service_compose_could_not_scale_is_refused_clearly(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[[ComposeProject], Healer],
    celery_app: Celery,
) -> None:
    labels = {"healer.scale.metric": "cpu", "healer.scale.min": "2", "healer.scale.max": "3"}
    name = f"chtest-fixed-{uuid.uuid4().hex[:6]}"
    extra = f"container_name: {name}"
    project = compose_project(
        compose_yaml(healthy_service_yaml(test_image, "web", extra, labels=labels))
    )
    h = make_healer(project)
    sid = service_id(project.name, "web")
    queues = h.stores.celery_queues(celery_app, inspect_timeout=0.3)
    with pytest.raises(ScaleError, match="container_name"):
        scale_to(h, sid, 2, queues=queues, options=OPTIONS)
    for t in (0, 1):  # below min, but blocked: skipped and recorded once, not failed each cycle
        out = scale_cycle(
            h, T0 + t, metric_source=lambda m, cs: 0.5, queues=queues, options=OPTIONS
        )
        assert [(s.outcome, s.reason) for s in out.services] == [("skipped", "blocked")]
    skips = [r for r in h.history.query(service=sid) if r.reason == "blocked"]
    assert len(skips) == 1 and "remove container_name" in skips[0].detail
    assert [c.name for c in project.containers("web")] == [name]


# --- the real task in a real worker --------------------------------------------------------


def test_scale_cycle_task_in_a_celery_worker(
    compose_project: ComposeFactory,
    test_image: str,
    healer_stack: HealerFactory,
    celery_app: Celery,
) -> None:
    q = unique_queue()
    project = compose_project(queue_service(test_image, q))
    stack = healer_stack(project.name, SCALER_INTERVAL="5")
    node = f"scaletest-{os.getpid()}@{os.uname().nodename}"
    argv = [sys.executable, "-m", "celery", "-A", "workers.scale_tasks", "worker"]
    argv += ["-Q", "healer.scale", "-c", "1", "-n", node, "--without-mingle", "--without-gossip"]
    stack.start("scale-worker", argv)
    wait_until(
        lambda: celery_app.control.ping(destination=[node], timeout=0.5),
        timeout=60,
        message="the scale worker to answer:\n" + stack.tail(),
    )
    push(celery_app, q, 25)
    started = time.monotonic()
    celery_app.send_task("healer.scale.cycle", queue="healer.scale")
    wait_until(lambda: len(running_names(project)) == 3, 45, 0.2, "3 replicas (25 tasks / 10)")
    assert time.monotonic() - started < 45
    assert ps_names(project) == [f"{project.name}-worker-{n}" for n in (1, 2, 3)]


# --- drain ---------------------------------------------------------------------------------

DRAIN_APP = """
import os, time
import redis
from celery import Celery

app = Celery("drainapp", broker=os.environ["REDIS_URL"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1,
                broker_connection_retry_on_startup=True)
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@app.task(name="drain.slow")
def slow(seconds, key):
    r.set(key + ":started", repr(time.time()), ex=600)
    time.sleep(seconds)
    r.set(key + ":finished", repr(time.time()), ex=600)
"""


def test_a_draining_worker_finishes_its_task_before_its_container_goes(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[[ComposeProject], Healer],
    healer_stack: HealerFactory,
    celery_app: Celery,
    redis_client: redis.Redis,
    docker_events: Any,
    tmp_path: Path,
) -> None:
    q = unique_queue()
    project = compose_project(queue_service(test_image, q, **{"healer.scale.max": "2"}))
    h = make_healer(project)
    sid = service_id(project.name, "worker")
    queues = h.stores.celery_queues(celery_app, inspect_timeout=0.5)
    assert scale_to(h, sid, 2, queues=queues, options=OPTIONS).outcome == "scaled"
    replica = project.containers("worker")[1]
    hostname = replica.attrs["Config"]["Hostname"]

    # The Celery worker "inside" replica 2: a host process whose node name carries the
    # replica's hostname, which is how the drain finds a container's worker.
    (tmp_path / "drainapp.py").write_text(textwrap.dedent(DRAIN_APP))
    stack = healer_stack(project.name, PYTHONPATH=str(tmp_path))
    node = f"celery@{hostname}"
    argv = [sys.executable, "-m", "celery", "-A", "drainapp", "worker", "-Q", q, "-c", "1"]
    stack.start("drain-worker", [*argv, "-n", node, "--without-mingle", "--without-gossip"])
    wait_until(
        lambda: celery_app.control.ping(destination=[node], timeout=0.5),
        60,
        0.2,
        "the drain worker to answer:\n" + stack.tail(),
    )
    events = docker_events(project)

    celery_app.send_task("drain.slow", args=[4, "job"], queue=q)
    wait_until(lambda: redis_client.get("job:started"), 20, 0.1, "the slow task to start")
    result = scale_to(h, sid, 1, queues=queues, options=OPTIONS)

    assert result.outcome == "scaled", result
    assert f"drained {node}" in result.detail
    finished = float(redis_client.get("job:finished") or "inf")
    die = events.wait_for("die", "worker")[0]
    assert die["name"] == replica.name
    assert die["time_ns"] / 1e9 >= finished, "the container stopped before its task ended"
    assert [c.name for c in project.containers("worker")] == [f"{project.name}-worker-1"]

    # It stopped consuming: a new task stays in the queue although the worker is idle.
    celery_app.send_task("drain.slow", args=[0, "late"], queue=q)
    # Positive signal: the worker is alive and answers, idle, with the task waiting.
    wait_until(
        lambda: (celery_app.control.inspect([node], timeout=1.0).active() or {}).get(node) == [],
        timeout=20,
        message="the drained worker to report itself idle",
    )
    assert queues.backlog([q])[q] == 1 and not redis_client.get("late:started")


def test_a_service_sharing_a_writable_named_volume_is_never_cloned(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[[ComposeProject], Healer],
    celery_app: Celery,
) -> None:
    # A database on its data volume: a second replica would corrupt it. Not even --force.
    extra = "volumes:\n  - pgdata:/var/lib/data"
    service = healthy_service_yaml(test_image, "db", extra, labels={"healer.scale.max": "3"})
    project = compose_project(compose_yaml(service, top_level="volumes:\n  pgdata: {}"))
    h = make_healer(project)
    sid = service_id(project.name, "db")
    queues = h.stores.celery_queues(celery_app, inspect_timeout=0.3)
    for force in (False, True):
        with pytest.raises(ScaleError, match=r"healer\.scale\.shared_storage=true"):
            scale_to(h, sid, 2, force, queues=queues, options=OPTIONS)
    assert len(project.containers("db")) == 1
    with pytest.raises(ScaleError, match="HEALER_MAX_REPLICAS_CAP"):
        scale_to(h, sid, h.settings.max_replicas_cap + 1, True, queues=queues, options=OPTIONS)
