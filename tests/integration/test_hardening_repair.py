"""Issue 10 regressions in the repair task, the disk check and the storm brake, run
in-process against the real Redis and Docker engine (Docker's own state is the evidence)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis

from healer.adapters.store import keys
from healer.core.model import (
    Action,
    Condition,
    ContainerId,
    RepairRequest,
    ServiceId,
    Source,
    service_id,
)
from healer.core.repair.work import repair_budget
from healer.engine.context import Healer, build
from healer.engine.disk import check_disk
from healer.engine.repair.run import repair
from healer.settings import Settings
from tests.support import (
    TIMING_OUT_CHECK,
    ComposeFactory,
    ComposeProject,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import NoDispatch


@pytest.fixture
def make_healer(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Healer]]:
    built: list[Healer] = []

    def make(project: ComposeProject, **settings: Any) -> Healer:
        s = Settings(
            redis_url=redis_url,
            projects=project.name,
            log_dir=tmp_path / "logs",
            verify_timeout=10,
            **settings,
        )
        h = build(s, NoDispatch())
        built.append(h)
        return h

    yield make
    for h in built:
        h.stores.close()
        h.engine.close()


def _started_at(client: docker.DockerClient, cid: str) -> str:
    return str(client.api.inspect_container(cid)["State"]["StartedAt"])


def _request(
    sid: ServiceId, condition: Condition, action: Action, source: str, *ids: str
) -> RepairRequest:
    cids = tuple(ContainerId(i) for i in ids)
    request_id = f"req-{time.monotonic_ns()}"
    return RepairRequest(sid, condition, action, cids, "test", Source(source), request_id)


def test_an_alert_does_not_start_a_hand_stopped_service_when_told_to_respect_it(
    compose_project: ComposeFactory,
    make_healer: Callable[..., Healer],
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    h = make_healer(project, respect_manual_stop=True)
    sid = service_id(project.name, "web")
    web = project.container("web")
    project.run("stop", "web")
    h.state.mark_manual_stop(ContainerId(web.id))  # what the events watcher does on `stop`

    # The shipped ContainerDown alert asks to start it.
    result = repair(h, _request(sid, Condition.ALERT, Action.START, "alert"))
    assert (result.outcome, result.reason) == ("skipped", "manual_stop"), result
    assert docker_client.api.inspect_container(web.id)["State"]["Status"] == "exited"
    # The operator's own request still starts it.
    assert repair(h, _request(sid, Condition.MANUAL, Action.START, "api")).outcome == "acted"
    assert docker_client.api.inspect_container(web.id)["State"]["Running"]


def test_container_ids_from_another_service_are_refused(
    compose_project: ComposeFactory,
    make_healer: Callable[..., Healer],
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    yaml = compose_yaml(
        healthy_service_yaml(test_image, "web"), healthy_service_yaml(test_image, "db")
    )
    project = compose_project(yaml, wait=True)
    h = make_healer(project)
    db = project.container("db")
    before = _started_at(docker_client, db.id)
    req = _request(service_id(project.name, "web"), Condition.ALERT, Action.RESTART, "alert", db.id)
    result = repair(h, req)
    assert (result.outcome, result.reason) == ("skipped", "invalid_target"), result
    assert _started_at(docker_client, db.id) == before, "db must not have been touched"
    assert h.requests.get(req.request_id)["outcome"] == "skipped"


def test_the_lock_and_acting_marks_outlive_a_long_stop_start(
    compose_project: ComposeFactory,
    make_healer: Callable[..., Healer],
    redis_client: redis.Redis,
    test_image: str,
) -> None:
    r = redis_client
    # Two replicas that ignore SIGTERM: each stop waits its whole 3 s grace period, so the
    # repair runs ~6 s against a configured lock TTL of 1 s.
    stubborn = "trap '' TERM; touch /tmp/healthy; while :; do sleep 1; done"
    service = healthy_service_yaml(
        test_image, "web", "scale: 2\nstop_grace_period: 3s\ninit: false", command=stubborn
    ).replace("    init: true\n", "")
    project = compose_project(compose_yaml(service), wait=True)
    h = make_healer(project, lock_ttl=1)
    sid = service_id(project.name, "web")
    done: list[Any] = []
    worker = threading.Thread(
        target=lambda: done.append(
            repair(h, _request(sid, Condition.MANUAL, Action.STOP_START, "api"))
        )
    )
    worker.start()
    try:
        wait_until(
            lambda: r.exists(keys.lock(h.host, sid)), timeout=10, message="the repair's lock"
        )
        time.sleep(2.5)  # well past the configured 1 s lock TTL, while the first stop waits
        assert worker.is_alive(), "the repair should still be stopping the first replica"
        assert r.pttl(keys.lock(h.host, sid)) > 1000, "the lock must be stretched to the work"
        acting = [k for k in r.scan_iter(match=keys.acting(h.host, ContainerId("*")))]
        # Derived from the work (two 3 s stop graces, the 10 s verify wait, slack), not a
        # fixed mark: what is left of it still covers the second replica's stop and verify.
        budget = repair_budget(Action.STOP_START, [3, 3], 10)
        assert acting and all(r.ttl(k) >= budget - 5 for k in acting), "acting TTL from the work"
        # Another repair of the service meanwhile finds it in flight and does nothing.
        other = repair(h, _request(sid, Condition.UNHEALTHY, Action.RESTART, "probe"))
        assert (other.outcome, other.reason) == ("skipped", "in_flight")
    finally:
        worker.join(timeout=60)
    assert done and done[0].outcome == "acted", done
    assert not r.exists(keys.lock(h.host, sid)), "released when done"


def test_scheduled_disk_cleanup_honours_pause(
    compose_project: ComposeFactory,
    make_healer: Callable[..., Healer],
    redis_client: redis.Redis,
    test_image: str,
    tmp_path: Path,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")))
    # A threshold every disk is above: without the pause, this check would clean.
    h = make_healer(project, disk_threshold=0.0001, disk_path=tmp_path)
    h.flags.pause()
    result = check_disk(h, source=Source.PROBE)
    assert (result.outcome, result.reason, result.removed) == ("skipped", "paused", [])
    assert any(e.reason == "paused" for e in h.history.query(service="host/disk"))
    assert not redis_client.exists(keys.lock(h.host, ServiceId("host/disk"))), (
        "it never took the lock"
    )


def _unhealthy(project: ComposeProject, services: list[str]) -> None:
    for name in services:
        subprocess.run(
            ["docker", "exec", project.container(name).id, "rm", "/tmp/healthy"], check=True
        )

    def all_unhealthy() -> bool:
        return all(
            (project.container(n).attrs["State"].get("Health") or {}).get("Status") == "unhealthy"
            for n in services
        )

    wait_until(all_unhealthy, timeout=30, message="every service unhealthy")


def test_the_storm_brake_lets_one_unhealthy_repair_through_and_still_starts_crashes(
    compose_project: ComposeFactory,
    make_healer: Callable[..., Healer],
    docker_client: docker.DockerClient,
    redis_client: redis.Redis,
    test_image: str,
) -> None:
    names = [f"s{i}" for i in range(5)]
    # Checks that time out (as on an overloaded engine) are the brake's evidence; explicit
    # failures are repaired at full speed (the next test).
    blocks = [healthy_service_yaml(test_image, n, check=TIMING_OUT_CHECK) for n in names]
    yaml = compose_yaml(*blocks, healthy_service_yaml(test_image, "crashy"))
    project = compose_project(yaml, wait=True)
    h = make_healer(project, storm_min_services=4, storm_share=0.55, storm_interval=600)
    h.stores.storm.set_managed(6, ttl=600)  # what the reconcile probe writes
    _unhealthy(project, names)
    results = [
        repair(
            h, _request(service_id(project.name, n), Condition.UNHEALTHY, Action.RESTART, "probe")
        )
        for n in names
    ]
    outcomes = sorted(
        (r.outcome, r.reason.split(":")[0] if r.outcome == "skipped" else "") for r in results
    )
    # s0..s2 are repaired (below 4 services there is no storm); s3 engages the brake and is
    # the trickle's one; s4 waits.
    acted = [r for r in results if r.outcome == "acted"]
    braked = [r for r in results if r.reason == "storm_brake"]
    assert len(acted) == 4 and len(braked) == 1, outcomes
    assert "5 of 6 managed services" in braked[0].detail
    notes = [r for r in h.history.query(service="host") if r.reason == "storm_brake"]
    assert len(notes) == 1 and "slowed" in notes[0].detail
    metrics = {m.name: m for m in h.stores.collector().collect()}
    brake = {x.labels["host"]: x.value for x in metrics["healer_repair_storm_brake"].samples}
    assert brake[h.host] == 1.0, "the brake is the healer's host's"
    # A crashed container is started at once, brake or not.
    crashy = project.container("crashy")
    crashy.kill()
    wait_until(
        lambda: not docker_client.api.inspect_container(crashy.id)["State"]["Running"], timeout=10
    )
    started = repair(
        h, _request(service_id(project.name, "crashy"), Condition.EXITED, Action.START, "probe")
    )
    assert started.outcome == "acted", started


def test_a_storm_of_explicit_failures_on_an_idle_host_is_repaired_at_full_speed(
    compose_project: ComposeFactory,
    make_healer: Callable[..., Healer],
    test_image: str,
) -> None:
    names = [f"s{i}" for i in range(5)]
    project = compose_project(
        compose_yaml(*(healthy_service_yaml(test_image, n) for n in names)), wait=True
    )
    # An unpressured host: the thresholds are set out of reach of a shared test machine.
    h = make_healer(
        project,
        storm_min_services=4,
        storm_interval=600,
        storm_cpu_pressure=100,
        storm_io_pressure=100,
    )
    h.stores.storm.set_managed(5, ttl=600)
    _unhealthy(project, names)
    results = [
        repair(
            h, _request(service_id(project.name, n), Condition.UNHEALTHY, Action.RESTART, "probe")
        )
        for n in names
    ]
    assert [r.outcome for r in results] == ["acted"] * 5, results
    assert not [r for r in h.history.query(service="host") if r.reason == "storm_brake"]
