"""Repairs that keep a service available, on the real engine: an operator's repair of a
three-replica service goes replica by replica (sampled every 100 ms from the engine, never
fewer than 2 healthy), a start-first recreate of one replica never leaves 0 healthy, and a
replica that never comes back stops the repair with the others untouched."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from healer.core.model import Action, Condition, RepairRequest, Source, service_id
from healer.engine.context import Healer, build
from healer.engine.repair.run import repair
from healer.settings import Settings
from tests.support import ComposeFactory, ComposeProject, compose_yaml, healthy_service_yaml
from tests.support.healer import NoDispatch


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


class Sampler:
    """Healthy replicas of a service, read from the engine every 100 ms."""

    def __init__(self, client: docker.DockerClient, project: str, service: str) -> None:
        self.client = client
        self.samples: list[int] = []
        self.filters = {
            "label": [
                f"com.docker.compose.project={project}",
                f"com.docker.compose.service={service}",
            ],
            "health": "healthy",
        }
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(len(self.client.api.containers(filters=self.filters)))
            self._stop.wait(0.1)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop.set()
            t.join(5)


def _operator(project: ComposeProject, action: Action) -> RepairRequest:
    sid = service_id(project.name, "web")
    return RepairRequest(
        sid, Condition.MANUAL, action, (), "test", Source.CLI, f"r{time.time_ns()}"
    )


def _web(image: str, replicas: int, **labels: str) -> str:
    extra = f"deploy:\n  replicas: {replicas}"
    return compose_yaml(healthy_service_yaml(image, "web", extra, labels=labels or None))


@pytest.mark.parametrize("action", [Action.RESTART, Action.RECREATE])
def test_a_three_replica_repair_never_leaves_fewer_than_two_healthy(
    action: Action,
    compose_project: ComposeFactory,
    make_healer: Callable[[ComposeProject], Healer],
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    project = compose_project(_web(test_image, 3), wait=True)
    h = make_healer(project)
    before = {c.id for c in project.containers()}
    started = time.monotonic()
    with Sampler(docker_client, project.name, "web").running() as sampler:
        result = repair(h, _operator(project, action))
        took = time.monotonic() - started
    assert result.outcome == "acted", result
    assert sampler.samples and min(sampler.samples) >= 2, sampler.samples
    done = [
        r
        for r in h.history.query(service=service_id(project.name, "web"))
        if r.reason == "replica_done"
    ]
    assert len(done) == 3, "the history shows each replica, in order"
    assert [r.detail.split(" (")[-1] for r in sorted(done, key=lambda r: r.ts)] == [
        "1 of 3)",
        "2 of 3)",
        "3 of 3)",
    ]
    if action == Action.RECREATE:
        assert not before & {c.id for c in project.containers()}, "every replica is new"
    print(f"\n{action} of 3 replicas: {took:.2f}s total, {took / 3:.2f}s per replica")


def test_a_start_first_recreate_of_one_replica_never_leaves_it_without_a_healthy_one(
    compose_project: ComposeFactory,
    make_healer: Callable[[ComposeProject], Healer],
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    project = compose_project(
        _web(test_image, 1, **{"healer.recreate.order": "start-first"}), wait=True
    )
    h = make_healer(project)
    old = project.container("web").id
    with Sampler(docker_client, project.name, "web").running() as sampler:
        result = repair(h, _operator(project, Action.RECREATE))
    assert result.outcome == "acted", result
    assert "start-first" in result.detail, result.detail
    assert project.container("web").id != old
    assert sampler.samples and min(sampler.samples) >= 1, sampler.samples


def test_start_first_is_refused_with_the_reason_where_two_containers_would_collide(
    compose_project: ComposeFactory,
    make_healer: Callable[[ComposeProject], Healer],
    test_image: str,
) -> None:
    labels = {"healer.recreate.order": "start-first"}
    block = healthy_service_yaml(test_image, "web", network_mode="host", labels=labels)
    project = compose_project(compose_yaml(block), wait=True)
    result = repair(make_healer(project), _operator(project, Action.RECREATE))
    assert result.outcome == "acted", result
    assert "start-first impossible (network_mode host" in result.detail, result.detail


def test_a_replica_that_never_comes_back_stops_the_repair_and_leaves_the_rest(
    compose_project: ComposeFactory,
    make_healer: Callable[[ComposeProject], Healer],
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    # /tmp/healthy is written only by the first start (a marker on a volume says it ran):
    # a restarted replica runs but never turns healthy again.
    once = (
        "if [ ! -e /data/$(hostname) ]; then touch /data/$(hostname) /tmp/healthy; fi; "
        "exec sleep 3600"
    )
    extra = "deploy:\n  replicas: 3\nvolumes:\n  - marks:/data\nlabels:\n  healer.test: x"
    block = healthy_service_yaml(test_image, "web", extra, command=once)
    project = compose_project(compose_yaml(block, top_level="volumes:\n  marks: {}"), wait=True)
    h = make_healer(project)
    started = {c.id: c.attrs["State"]["StartedAt"] for c in project.containers()}
    result = repair(h, _operator(project, Action.RESTART))
    assert result.outcome == "failed", result
    assert "not available within its time" in result.detail, result.detail
    assert "left untouched" in result.detail
    now = {c.id: c.attrs["State"]["StartedAt"] for c in project.containers()}
    restarted = [cid for cid in started if now[cid] != started[cid]]
    assert len(restarted) == 1, "only the first replica was touched"
