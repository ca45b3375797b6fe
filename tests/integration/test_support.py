"""The test helpers themselves: compose projects, event recording, the test image."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import docker
import docker.errors
import pytest
import redis
from docker.models.containers import Container

from tests.support import (
    PROJECT_LABEL,
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    redis_test_url,
    unique_project_name,
    wait_until,
)
from tests.support.services import worker_redis_url
from tests.support.turns import Turns


def _health(container: Container) -> str:
    container.reload()
    return str(container.attrs["State"].get("Health", {}).get("Status", ""))


def test_wait_until_returns_the_value_and_times_out_clearly() -> None:
    calls = iter([0, 0, 7])
    assert wait_until(lambda: next(calls), timeout=5, interval=0.01) == 7

    def refused() -> bool:
        raise ConnectionRefusedError

    with pytest.raises(AssertionError, match=r"timed out after 0.2s waiting for the server"):
        wait_until(refused, 0.2, 0.01, "the server", ignore=(ConnectionError,))
    with pytest.raises(ConnectionRefusedError):
        wait_until(refused, 0.2, 0.01)


def test_free_port_can_be_bound() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_project_names_are_unique_and_valid() -> None:
    names = {unique_project_name("My Test!") for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith("chtest-my-test-") for n in names)
    assert unique_project_name().startswith("chtest-")


def test_redis_fixtures_use_a_flushed_dedicated_db(
    redis_url: str, redis_client: redis.Redis
) -> None:
    assert redis_url == redis_test_url()  # db 15 unless HEALER_TEST_REDIS_URL says otherwise
    assert not redis_url.endswith("/0")
    assert redis_client.dbsize() == 0
    redis_client.set("k", "v")
    assert redis_client.get("k") == "v"  # decode_responses


def test_image_has_the_applets_tests_use(
    docker_client: docker.DockerClient, test_image: str
) -> None:
    applets = "sh sleep httpd wget touch rm test cat dd nc kill ps id head tail grep sed awk"
    script = f"for a in {applets}; do command -v $a >/dev/null || echo missing: $a; done"
    container = docker_client.containers.run(
        test_image, ["sh", "-c", script], network_mode="none", detach=True
    )
    try:
        assert container.wait(timeout=30)["StatusCode"] == 0
        assert container.logs().decode() == ""
    finally:
        container.remove(force=True)


def test_image_serves_http_on_the_host_network(
    compose_project: ComposeFactory, test_image: str
) -> None:
    port = free_port()
    web = healthy_service_yaml(
        test_image,
        "web",
        network_mode="host",
        command=f"echo hello > /tmp/index.html; touch /tmp/healthy;"
        f" exec httpd -f -p 127.0.0.1:{port} -h /tmp",
    )
    compose_project(compose_yaml(web), "http", wait=True)
    url = f"http://127.0.0.1:{port}/index.html"
    body = wait_until(lambda: urllib.request.urlopen(url, timeout=2).read(), 10, ignore=(OSError,))
    assert body == b"hello\n"


@pytest.mark.serial  # alone: a restart within 3 s
def test_compose_project_health_events_and_fast_restart(
    compose_project: ComposeFactory, docker_events: EventsFactory, test_image: str
) -> None:
    project = compose_project(
        compose_yaml(healthy_service_yaml(test_image, "web", labels={"auto_repair": "true"})),
        "events",
        wait=True,
    )
    web = project.container("web")
    assert web.name == f"{project.name}-web-1"
    assert web.labels["auto_repair"] == "true"
    assert _health(web) == "healthy"
    assert [c.id for c in project.containers()] == [web.id]
    assert project.containers("other") == []
    recorder = docker_events(project)

    web.exec_run(["rm", "/tmp/healthy"])
    [event] = recorder.wait_for("health_status: unhealthy", "web", timeout=15)
    assert event["container_id"] == web.id
    assert event["name"] == web.name
    assert event["time_ns"] >= recorder.started_ns
    assert recorder.events(action="exec_start") == []  # healthcheck noise is dropped

    started = time.monotonic()
    web.restart()  # SIGTERM, 10 s grace: fast only because init forwards the signal
    assert time.monotonic() - started < 3
    recorder.wait_for("restart", "web")
    recorder.wait_for("start", "web")
    assert recorder.events("die", "web")
    recorder.wait_for("health_status", "web", count=2)  # prefix match: unhealthy, healthy
    wait_until(lambda: _health(web) == "healthy", 15, message="healthy after restart")


def test_wait_for_timeout_lists_the_events_seen(
    compose_project: ComposeFactory, docker_events: EventsFactory, test_image: str
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), up=False)
    recorder = docker_events(project.name)
    project.up()
    recorder.wait_for("start", "web")
    with pytest.raises(AssertionError, match=r"(?s)expected 1 'die'.*web +start"):
        recorder.wait_for("die", "web", timeout=0.5)
    recorder.stop()
    recorder.stop()  # idempotent


def test_down_removes_what_compose_does_not_know_about(
    compose_project: ComposeFactory, docker_client: docker.DockerClient, test_image: str
) -> None:
    web = healthy_service_yaml(test_image, "web", "volumes:\n  - data:/data")
    project = compose_project(compose_yaml(web, top_level="volumes:\n  data: {}"), wait=True)
    label = {"label": f"{PROJECT_LABEL}={project.name}"}
    # What the healer might do: a replacement container carrying the project's labels.
    stray = docker_client.containers.run(
        test_image,
        ["sleep", "600"],
        detach=True,
        init=True,
        network_mode="none",
        labels={PROJECT_LABEL: project.name, "com.docker.compose.service": "extra"},
    )
    assert len(docker_client.containers.list(filters=label)) == 2
    assert len(docker_client.volumes.list(filters=label)) == 1

    project.down()

    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.volumes.list(filters=label) == []
    with pytest.raises(docker.errors.NotFound):
        stray.reload()
    docker_client.images.get(test_image)  # the shared image stays


def test_each_xdist_worker_gets_its_own_redis_database() -> None:
    url = "redis://:pw@127.0.0.1:6382/15"
    assert worker_redis_url(url, "") == url  # not under xdist
    assert worker_redis_url(url, "gw0") == url
    assert worker_redis_url(url, "gw3") == "redis://:pw@127.0.0.1:6382/12"
    with pytest.raises(ValueError, match="gw2 would get Redis db 0"):
        worker_redis_url("redis://127.0.0.1:6379/2", "gw2")


def test_a_serial_test_waits_for_the_running_ones_and_the_later_ones_wait_for_it(
    tmp_path: Path,
) -> None:
    # Each Turns opens its own files, as each xdist worker does: flock treats them apart.
    log: list[str] = []
    first_in, release_first = threading.Event(), threading.Event()

    def ordinary(name: str, hold: threading.Event | None = None) -> None:
        with Turns(tmp_path).shared():
            log.append(f"{name} in")
            first_in.set()
            if hold is not None:
                hold.wait(5)
            log.append(f"{name} out")

    def serial() -> None:
        with Turns(tmp_path).exclusive():
            log.append("serial in")
            time.sleep(0.2)
            log.append("serial out")

    running = threading.Thread(target=ordinary, args=("a", release_first))
    running.start()
    first_in.wait(5)
    waiting = threading.Thread(target=serial)
    waiting.start()
    time.sleep(0.2)  # the serial test now queues at the turnstile, the room held by "a"
    later = threading.Thread(target=ordinary, args=("b",))
    later.start()
    time.sleep(0.2)
    assert log == ["a in"], "neither the serial test nor a later one may start meanwhile"
    release_first.set()
    for t in (running, waiting, later):
        t.join(5)
    assert log == ["a in", "a out", "serial in", "serial out", "b in", "b out"]
