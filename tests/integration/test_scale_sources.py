"""The autoscaler's external sources and scale to zero, against real servers: an application's
own Redis (password in an env var of the healer), a RabbitMQ node, a Prometheus scraping a
target this test serves, and the real Docker engine. Cycles run in-process on a simulated
clock (`now`); brokers, Prometheus and containers are real."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from celery import Celery
from pydantic import SecretStr

from healer.adapters.scaling.brokers import queue_source
from healer.adapters.scaling.prometheus import Prometheus
from healer.core.model import service_id
from healer.engine.context import Healer, build
from healer.engine.scaling.cycle import ScalerOptions, scale_cycle
from healer.settings import Settings
from tests.support import (
    ComposeFactory,
    ComposeProject,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    wait_until,
)
from tests.support.brokers import PrometheusServer, RabbitServer
from tests.support.healer import NoDispatch
from tests.support.redis_server import RedisServer

T0 = 2_000_000.0
OPTIONS = ScalerOptions(interval=1, drain_timeout=10, start_timeout=30, lock_wait=5)
APP_REDIS_PASSWORD = "chtest-app-" + uuid.uuid4().hex[:8]


# --- servers, one of each per module --------------------------------------------------------


@pytest.fixture(scope="module")
def rabbit() -> Iterator[RabbitServer]:
    server = RabbitServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


class AppRedis(RedisServer):
    """The application's own Redis, with a password (the healer reads it from an env var)."""

    def argv(self) -> list[str]:
        return [*super().argv(), "--requirepass", APP_REDIS_PASSWORD, "--appendonly", "no"]


@pytest.fixture(scope="module")
def app_redis() -> Iterator[str]:
    server = AppRedis()
    server.port = 6410 if _free(6410) else server.port  # a fixed port when free: easy to spot
    url = f"redis://:{APP_REDIS_PASSWORD}@127.0.0.1:{server.port}/3"
    proc = subprocess.Popen(server.argv(), start_new_session=True)
    client = redis.Redis.from_url(url)
    try:
        wait_until(client.ping, 30, 0.1, "the app's redis", ignore=(redis.ConnectionError,))
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(server.dir, ignore_errors=True)


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Gauge:
    """A /metrics target Prometheus scrapes: `chtest_jobs_waiting <value>`."""

    def __init__(self) -> None:
        self.value = 0.0
        gauge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"chtest_jobs_waiting {gauge.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def prom() -> Iterator[tuple[PrometheusServer, Gauge]]:
    gauge = Gauge()
    server = PrometheusServer(gauge.address)
    try:
        server.start()
        yield server, gauge
    finally:
        server.close()
        gauge.server.shutdown()


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def make_healer(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Healer]]:
    built: list[Healer] = []

    def make(project: ComposeProject, **extra: object) -> Healer:
        s = Settings(redis_url=redis_url, projects=project.name, log_dir=tmp_path)
        s = s.model_copy(update=extra)
        h = build(s, NoDispatch())
        built.append(h)
        return h

    yield make
    for h in built:
        h.stores.close()
        h.engine.client.close()


def service(image: str, **labels: str) -> str:
    base = {"healer.scale.max": "4", "healer.scale.window": "2s", "healer.scale.cooldown": "0"}
    return compose_yaml(healthy_service_yaml(image, "worker", labels={**base, **labels}))


def running(project: ComposeProject) -> list[str]:
    return [c.name for c in project.containers("worker") if c.status == "running"]


def push(broker: str, queue: str, n: int, priority: int | None = None) -> None:
    app = Celery("chtest-producer", broker=broker, set_as_current=False)
    try:
        with app.producer_or_acquire() as producer:
            for _ in range(n):
                app.send_task("noop", queue=queue, producer=producer, priority=priority)
    finally:
        app.close()


def scaled_records(h: Healer, sid: str) -> list[object]:
    return [r for r in h.history.query(service=sid) if r.outcome == "scaled"]


# --- the application's own Redis ------------------------------------------------------------


def test_a_worker_on_its_own_redis_scales_on_its_queues_password_from_env(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[..., Healer],
    app_redis: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    q = f"chtest-app-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("CHTEST_APP_BROKER", app_redis)
    labels = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": q,
        "healer.scale.target": "10",
        "healer.scale.broker": "env:CHTEST_APP_BROKER",
    }
    project = compose_project(service(test_image, **labels), "scale")
    h = make_healer(project)
    sid = service_id(project.name, "worker")
    push(app_redis, q, 20)
    push(app_redis, q, 10, priority=9)  # a priority sub-list: `q\x06\x169`... counted too

    out = scale_cycle(h, T0, options=OPTIONS).services[0]

    assert (out.outcome, out.current, out.desired) == ("scaled", 1, 3), out
    assert len(running(project)) == 3
    detail = scaled_records(h, sid)[0].detail  # type: ignore[attr-defined]
    assert "backlog 30" in detail, detail
    assert APP_REDIS_PASSWORD not in detail
    status = h.stores.scale.status()[sid]
    assert status["decided_by"] == "queue" and status["facts"]["broker"] == "env:CHTEST_APP_BROKER"


def test_a_broker_url_with_a_password_in_a_label_is_refused_and_held(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[..., Healer],
    app_redis: str,
) -> None:
    labels = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": "q",
        "healer.scale.broker": app_redis,
    }
    project = compose_project(service(test_image, **labels), "scale")
    h = make_healer(project)
    sid = service_id(project.name, "worker")
    out = scale_cycle(h, T0, options=OPTIONS).services[0]
    assert (out.outcome, out.desired) == ("held", 1)
    problems = h.stores.scale.status()[sid]["problems"]
    assert any("carries a password" in p for p in problems), problems
    assert not any(APP_REDIS_PASSWORD in p for p in problems)


# --- RabbitMQ -------------------------------------------------------------------------------

SLOW_APP = """
import time
from celery import Celery
import os

app = Celery("rmqapp", broker=os.environ["CHTEST_RMQ"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4,
                broker_connection_retry_on_startup=True)

@app.task(name="noop")
def noop(*args, **kwargs):
    time.sleep(60)
"""


def test_rabbitmq_depth_is_ready_plus_what_workers_hold(
    rabbit: RabbitServer, tmp_path: Path
) -> None:
    q = f"chtest-rmq-{uuid.uuid4().hex[:6]}"
    (tmp_path / "rmqapp.py").write_text(textwrap.dedent(SLOW_APP))
    env = {**os.environ, "CHTEST_RMQ": rabbit.url, "PYTHONPATH": str(tmp_path)}
    node = f"rmq-{uuid.uuid4().hex[:6]}@chtest"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "rmqapp",
        "worker",
        "-Q",
        q,
        "-c",
        "1",
        "-n",
        node,
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "WARNING",
    ]
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        source = queue_source(rabbit.url)
        wait_until(lambda: source.nodes(), 60, 0.5, "the rabbitmq worker to answer")
        push(rabbit.url, q, 10)

        def held() -> bool:
            d = source.measure([q])
            return d.active == 1 and d.reserved >= 1

        wait_until(held, 30, 0.5, "the worker to run one task and prefetch more")
        depth = source.measure([q])
        assert depth.backlog < 10, "ready alone misses the prefetched and running tasks"
        assert depth.backlog + depth.in_flight == 10, depth
    finally:
        os.killpg(worker.pid, signal.SIGQUIT)  # cold shutdown: its tasks sleep a minute
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


def test_a_worker_on_rabbitmq_scales_on_its_queue(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[..., Healer],
    rabbit: RabbitServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    q = f"chtest-rmq-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("CHTEST_RABBIT", rabbit.url)
    labels = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": q,
        "healer.scale.target": "10",
        "healer.scale.broker": "env:CHTEST_RABBIT",
    }
    project = compose_project(service(test_image, **labels), "scale")
    h = make_healer(project)
    push(rabbit.url, q, 40)
    out = scale_cycle(h, T0, options=OPTIONS).services[0]
    assert (out.outcome, out.current, out.desired) == ("scaled", 1, 4), out
    assert len(running(project)) == 4


# --- Prometheus, several metrics ------------------------------------------------------------


def test_a_prometheus_query_scales_and_a_failing_one_holds_saying_why(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[..., Healer],
    prom: tuple[PrometheusServer, Gauge],
) -> None:
    server, gauge = prom
    labels = {
        "healer.scale.metrics": "cpu,prometheus",
        "healer.scale.prometheus.query": "sum(chtest_jobs_waiting)",
        "healer.scale.prometheus.target": "5",
        "healer.scale.cpu.target": "0.6",
    }
    project = compose_project(service(test_image, **labels), "scale")
    auth = {"prometheus_user": server.user, "prometheus_password": SecretStr(server.password)}
    h = make_healer(project, prometheus_url=server.url, **auth)
    sid = service_id(project.name, "worker")
    cpu = lambda metric, containers: 0.3  # noqa: E731  (cpu alone: 1 replica)
    gauge.value = 15
    client = Prometheus(server.url, user=server.user, password=server.password)
    wait_until(lambda: _try(client, "sum(chtest_jobs_waiting)") == 15, 30, 0.5, "a scrape")

    out = scale_cycle(h, T0, metric_source=cpu, options=OPTIONS).services[0]
    assert (out.outcome, out.desired) == ("scaled", 3), out  # ceil(15 / 5)
    record = scaled_records(h, sid)[0]
    assert record.extra["metric"] == "prometheus"  # type: ignore[attr-defined]
    assert h.stores.scale.status()[sid]["decided_by"] == "prometheus"

    # The query now returns nothing: held at 3 although cpu alone asks for fewer.
    gauge.value = 0
    bad = Prometheus(server.url, user=server.user, password="wrong")
    for t, source in ((10, bad), (20, bad)):
        out = scale_cycle(
            h, T0 + t, metric_source=cpu, options=OPTIONS, prometheus=source
        ).services[0]
        assert (out.outcome, out.desired) == ("held", 3), out
        assert "401" in out.detail, out.detail
    assert len(running(project)) == 3
    why = [r for r in h.history.query(service=sid) if r.reason == "metric_missing"]
    assert why and "401" in why[0].detail, "the history says why it held"


def _try(client: Prometheus, query: str) -> float | None:
    try:
        return client.value(query)
    except Exception:
        return None


# --- scale to zero --------------------------------------------------------------------------


def test_idle_service_goes_to_zero_keeps_its_container_and_a_backlog_wakes_it(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[..., Healer],
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    q = f"chtest-zero-{uuid.uuid4().hex[:6]}"
    port, db = redis_client.connection_pool.connection_kwargs["port"], redis_url.rsplit("/", 1)[1]
    # A consumer busybox can run: LPOP the queue over Redis' inline protocol.
    command = (
        "touch /tmp/healthy; while true; do "
        f"printf 'SELECT {db}\\r\\nLPOP {q}\\r\\n' | nc -w 1 127.0.0.1 {port} >/dev/null; "
        "sleep 0.2; done"
    )
    labels = {
        "healer.scale.metric": "queue",
        "healer.scale.queues": q,
        "healer.scale.min": "0",
        "healer.scale.max": "2",
        "healer.scale.window": "2s",
        "healer.scale.cooldown": "0",
        "healer.scale.drain": "none",
    }
    yaml = compose_yaml(
        healthy_service_yaml(
            test_image, "worker", command=command, network_mode="host", labels=labels
        )
    )
    project = compose_project(yaml, "scale")
    h = make_healer(project)
    sid = service_id(project.name, "worker")
    first = project.containers("worker")[0].id

    assert scale_cycle(h, T0, options=OPTIONS).services[0].outcome == "held"  # window starts
    out = scale_cycle(h, T0 + 3, options=OPTIONS).services[0]
    assert (out.outcome, out.current, out.desired) == ("scaled", 1, 0), out
    kept = project.containers("worker")
    assert [(c.id, c.status) for c in kept] == [(first, "exited")], "stopped, not removed"
    assert h.flags.is_paused(sid), "paused: the probe must not start it again"
    assert scale_cycle(h, T0 + 4, options=OPTIONS).services[0].outcome == "held"

    redis_client.rpush(q, "job")
    started = time.monotonic()
    out = scale_cycle(h, T0 + 5, options=OPTIONS).services[0]
    to_running = time.monotonic() - started
    assert (out.outcome, out.current, out.desired) == ("scaled", 0, 1), out
    assert [c.id for c in project.containers("worker") if c.status == "running"] == [first]
    assert not h.flags.is_paused(sid)
    wait_until(lambda: redis_client.llen(q) == 0, 30, 0.05, "the woken replica to take the job")
    to_consumed = time.monotonic() - started
    assert to_running < 15, to_running
    print(f"scale from zero: running after {to_running:.2f}s, task taken {to_consumed:.2f}s")


# --- an alert's scale_down ------------------------------------------------------------------


def test_an_alert_scales_down_only_a_service_that_opted_in(
    compose_project: ComposeFactory,
    test_image: str,
    make_healer: Callable[..., Healer],
) -> None:
    from healer.engine.scaling.cycle import alert_scale_refusal, scale_to

    labels = {"healer.scale.metric": "cpu", "healer.scale.min": "1"}
    project = compose_project(service(test_image, **labels), "scale")
    h = make_healer(project)
    sid = service_id(project.name, "worker")
    scale_to(h, sid, 2, options=OPTIONS)
    view = h.engine.services(sid)[sid]
    assert "alert_down=true" in alert_scale_refusal(h, view, down=True)
    assert alert_scale_refusal(h, view) == ""  # scale_up's opt-in is the autoscaling labels

    opted = compose_project(service(test_image, **labels, **{"healer.scale.alert_down": "true"}))
    h2 = make_healer(opted)
    sid2 = service_id(opted.name, "worker")
    scale_to(h2, sid2, 2, options=OPTIONS)
    assert alert_scale_refusal(h2, h2.engine.services(sid2)[sid2], down=True) == ""
    scale_to(h2, sid2, 1, options=OPTIONS)
    refusal = alert_scale_refusal(h2, h2.engine.services(sid2)[sid2], down=True)
    assert "minimum of 1" in refusal
