"""The compose stack for real: `scripts/stack.sh up --demo` builds and starts it on this
engine, and the containerised healer is then proven end to end.

- the event path repairs an unhealthy demo service and a crashed one;
- a Prometheus rule fires on a real condition (a service stopped by hand, which the healer
  itself leaves alone here: HEALER_RESPECT_MANUAL_STOP) → Alertmanager (authenticated) →
  POST /alerts → a repair recorded with source `alert`;
- Flower's API lists the repair tasks by name;
- a worker killed mid-repair loses nothing, and a worker that restarts itself does so once;
- least privilege: the socket proxies refuse what their roles must not do, credentials are
  required, containers are read-only without capabilities;
- `scripts/stack.sh down --volumes` leaves no container, network or volume.

The stack's healer manages only this test's two projects (HEALER_PROJECTS). Timings (how long
`up` took, each repair's latency) are printed to the terminal. Images: the stack's own
images (compose-healer/...) that this test had to build are removed at the end; those that
existed before (scripts/provision.sh builds them, like the test image) are kept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest
from docker.models.containers import Container

from tests.support import (
    PROJECT_LABEL,
    SERVICE_LABEL,
    ComposeProject,
    EventRecorder,
    compose_binary,
    compose_yaml,
    unique_project_name,
    wait_until,
)
from tests.support.figures import say

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack.sh"
API = "http://127.0.0.1:8000"
FLOWER = "http://127.0.0.1:5555"
RETRY = (httpx.TransportError,)  # a dropped connection while a role restarts
ALERTMANAGER = "http://127.0.0.1:9093"
DEMO = "http://127.0.0.1:8080"
STACK_IMAGES = (
    "compose-healer:latest",
    "compose-healer/debian:bookworm",
    "compose-healer/redis:debian",
    "compose-healer/prometheus:debian",
    "compose-healer/alertmanager:debian",
    "compose-healer/socket-proxy:debian",
    "compose-healer/redis-exporter:debian",
    "compose-healer/postgres:debian",
    "compose-healer/postgres-exporter:debian",
)
# Settings for the stack's healer: fast enough for a test, and the reconcile path slow, so a
# repair within seconds can only have come through the event path.
RECONCILE = 120
HEALER_ENV = {
    "WATCHDOG_INTERVAL": str(RECONCILE),
    "HEALER_RESPECT_MANUAL_STOP": "true",
    "HEALER_STOP_TIMEOUT": "5",
    "HEALER_VERIFY_TIMEOUT": "20",
    "HEALER_LOCK_TTL": "40",
    "HEALER_TASK_TIME_LIMIT": "35",
    "HEALER_VISIBILITY_TIMEOUT": "40",
}

# The first test includes `up`, which builds every image on a fresh machine (~5 min).
# Alongside: six minutes of mostly waiting (an alert's `for: 1m`, a redelivery after the
# visibility timeout), with latencies bounded by minutes: it runs beside every other test.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.alongside]


class Stack:
    def __init__(self, tmp: Path, client: docker.DockerClient) -> None:
        self.client = client
        self.project = unique_project_name("stack")
        self.side = ComposeProject(
            name=unique_project_name("stack-side"),
            dir=tmp,
            file=tmp / "side.yml",
            client=client,
            compose_bin=compose_binary(),
        )
        self.env_file = tmp / "stack.env"
        self.env = {
            **os.environ,
            **HEALER_ENV,
            "COMPOSE_PROJECT_NAME": self.project,
            "HEALER_STACK_ENV": str(self.env_file),
            "HEALER_SECRETS_DIR": str(tmp / "secrets"),
            "HEALER_PROJECTS": f"{self.project},{self.side.name}",
        }
        self.up_output = ""
        self.up_seconds = 0.0
        self.up_at = 0.0  # when `up` began

    def run(self, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(STACK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def secret(self, name: str) -> str:
        for line in self.env_file.read_text().splitlines():
            if line.startswith(f"{name}="):
                return line.split("=", 1)[1]
        raise AssertionError(f"{name} missing from {self.env_file}")

    def containers(self) -> list[Container]:
        label = f"{PROJECT_LABEL}={self.project}"
        return list(self.client.containers.list(all=True, filters={"label": label}))

    def container(self, service: str) -> Container:
        found = [c for c in self.containers() if c.labels.get(SERVICE_LABEL) == service]
        assert len(found) == 1, (service, [c.name for c in self.containers()])
        return found[0]

    @property
    def api_url(self) -> str:
        """The API as this stack publishes it (PUBLISH_ADDR, any loopback address)."""
        return f"http://{self.env.get('PUBLISH_ADDR', '127.0.0.1')}:8000"

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            timeout=30,
            headers={"Authorization": f"Bearer {self.secret('HEALER_API_TOKEN')}"},
        )

    def history(self, service: str | None = None) -> list[dict[str, Any]]:
        """The healer's history of `service` (of every service without one), newest first."""
        params = {"since": "1h", "limit": "10000", **({"service": service} if service else {})}
        # A role of the stack may be restarting (by its healer, on a loaded host): the read
        # waits for it, up to a minute, instead of failing on one dropped connection.
        with self.api() as api:
            resp = wait_until(
                lambda: api.get("/history", params=params), 60, 2, "the API", ignore=RETRY
            )
        resp.raise_for_status()
        entries: list[dict[str, Any]] = resp.json()["entries"]
        return entries

    def exec_python(self, service: str, code: str) -> str:
        """Run Python inside a stack container (through the real engine, as an operator)."""
        result = self.container(service).exec_run(["python", "-c", code])
        return str(result.output.decode(errors="replace")).strip()

    def remaining(self) -> dict[str, list[str]]:
        label = {"label": f"{PROJECT_LABEL}={self.project}"}
        return {
            "containers": [c.name for c in self.client.containers.list(all=True, filters=label)],
            "networks": [n.name for n in self.client.networks.list(filters=label)],
            "volumes": [v.name for v in self.client.volumes.list(filters=label)],
        }


def _say(request: pytest.FixtureRequest, message: str) -> None:
    """To the terminal, past pytest's capture (from an xdist worker too): the figures."""
    say(request.config, f"[stack e2e] {message}")


SLOW_SERVICE = """\
  slow:
    image: {image}
    init: false
    network_mode: none
    stop_grace_period: 30s
    command: ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
"""


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    test_image: str,
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    s = Stack(tmp, docker_client)
    present = {name for name in STACK_IMAGES if _image_exists(docker_client, name)}
    s.side.file.write_text(compose_yaml(SLOW_SERVICE.format(image=test_image)))
    try:
        s.side.up(wait=True)
        start, s.up_at = time.monotonic(), time.time()
        result = s.run("up", "--demo")
        s.up_seconds = time.monotonic() - start
        s.up_output = result.stdout + result.stderr
        assert result.returncode == 0, s.up_output[-6000:]
        _say(request, f"`scripts/stack.sh up --demo` took {s.up_seconds:.1f}s")
        yield s
    finally:
        if s.remaining()["containers"]:
            _dump_logs(request, s)
            s.run("down", "--volumes", timeout=300)
        leftovers = ComposeProject(s.project, tmp, ROOT / "docker-compose.yml", docker_client)
        problems = leftovers._remove_labelled()
        s.side.down()
        for name in STACK_IMAGES:
            if name not in present and _image_exists(docker_client, name):
                docker_client.images.remove(name, force=True)
        assert not problems, problems


def _image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _dump_logs(request: pytest.FixtureRequest, s: Stack) -> None:
    if not request.session.testsfailed:
        return
    for c in s.containers():
        if c.labels.get(SERVICE_LABEL, "").startswith("healer-"):
            tail = c.logs(tail=40).decode(errors="replace")
            _say(request, f"--- {c.name} ---\n{tail}")


@pytest.fixture
def events(stack: Stack) -> Iterator[EventRecorder]:
    rec = EventRecorder(stack.client, stack.project)
    yield rec
    rec.stop()


def _since(stack: Stack, since: float) -> str:
    """What the healer recorded since `since`, oldest first: the story behind a failure."""
    rows = [e for e in stack.history() if e["ts"] >= since]
    keys = ("sid", "outcome", "condition", "action", "reason", "source", "detail")
    return "\n".join(
        f"{e['ts'] - since:+8.3f}s " + " ".join(f"{k}={e.get(k)!r}" for k in keys)
        for e in reversed(rows)
    )


def _acted(stack: Stack, service: str, since: float, **match: str) -> dict[str, Any] | None:
    for entry in stack.history(service):
        fits = all(entry.get(k) == v for k, v in match.items())
        if entry["outcome"] == "acted" and entry["ts"] >= since and fits:
            return entry
    return None


# --- 1. up ---------------------------------------------------------------------------------


def test_up_writes_secrets_builds_and_starts_everything_healthy(stack: Stack) -> None:
    assert "wrote one from .env.example with fresh random secrets" in stack.up_output
    for name in ("HEALER_API_TOKEN", "REDIS_PASSWORD", "ALERTMANAGER_PASSWORD", "FLOWER_PASSWORD"):
        assert len(stack.secret(name)) >= 32, name
    assert oct(stack.env_file.stat().st_mode & 0o777) == "0o600"
    if not _image_exists(stack.client, "grafana/grafana:11.2.2"):
        assert "grafana: NOT STARTED" in stack.up_output
    services = {c.labels[SERVICE_LABEL]: c for c in stack.containers()}
    expected = {
        "redis", "docker-proxy-readonly", "docker-proxy-worker", "healer-worker", "healer-beat",
        "healer-events", "healer-api", "flower", "prometheus", "alertmanager",
        "redis-exporter", "demo-web", "demo-load", "postgres", "postgres-exporter",
    }  # fmt: skip
    assert expected <= set(services), sorted(services)
    for name, c in services.items():
        state = c.attrs["State"]
        assert state["Running"], name
        if "Health" in state:
            assert state["Health"]["Status"] == "healthy", name
        for bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).values():
            for b in bindings or []:
                assert b["HostIp"] == "127.0.0.1", (name, bindings)
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{API}/healthz").json()["ok"] is True


# --- 2. least privilege ----------------------------------------------------------------------

PROXY_CALL = """
import json, urllib.request, urllib.error
def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code
"""


def test_least_privilege(stack: Stack) -> None:
    # Only the proxies hold the socket; no role can reach the other level's proxy.
    for c in stack.containers():
        service = c.labels[SERVICE_LABEL]
        sockets = [m for m in c.attrs["Mounts"] if m["Destination"] == "/var/run/docker.sock"]
        assert bool(sockets) == service.startswith("docker-proxy-"), service
        host = c.attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"], service
        assert "no-new-privileges:true" in (host["SecurityOpt"] or []), service
        assert host["ReadonlyRootfs"] is True, service
        assert not host["Privileged"], service
    body = {"Image": "compose-healer/debian:bookworm", "Cmd": ["true"]}
    api_calls = stack.exec_python(
        "healer-api",
        PROXY_CALL
        + "p = 'http://docker-proxy-readonly:2375'\n"
        + f"print(call(p + '/version'), call(p + '/containers/create', {body!r}),"
        + " call(p + '/containers/x/exec', {'Cmd': ['sh']}))",
    )
    assert api_calls == "200 403 403", api_calls
    privileged = {**body, "HostConfig": {"Privileged": True}}
    worker_calls = stack.exec_python(
        "healer-worker",
        PROXY_CALL
        + "p = 'http://docker-proxy-worker:2375'\n"
        + f"print(call(p + '/containers/create', {privileged!r}),"
        + " call(p + '/containers/x/exec', {'Cmd': ['sh']}), call(p + '/swarm'))",
    )
    assert worker_calls == "403 403 403", worker_calls
    # A create wearing a managed service's labels but asking more than its containers have.
    labels = {PROJECT_LABEL: stack.project, SERVICE_LABEL: "demo-web"}
    escapes = [
        {**body, "Labels": labels, "HostConfig": {"Binds": ["/var/run/docker.sock:/s"]}},
        {**body, "Labels": labels, "HostConfig": {"Binds": ["/:/host"]}},
        {**body, "Labels": labels, "HostConfig": {"CapAdd": ["ALL"], "PidMode": "host"}},
    ]
    escaped = stack.exec_python(
        "healer-worker",
        PROXY_CALL
        + "p = 'http://docker-proxy-worker:2375/containers/create'\n"
        + f"print(*[call(p, b) for b in {escapes!r}])",
    )
    assert escaped == "403 403 403", escaped
    unreachable = stack.exec_python(
        "healer-api", PROXY_CALL + "print(call('http://docker-proxy-worker:2375/version'))"
    )
    assert "Error" in unreachable or "URLError" in unreachable, unreachable
    # Credentials: Alertmanager, Flower, Redis, the API's mutating calls.
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{ALERTMANAGER}/api/v2/status").status_code == 401
        assert http.post(f"{ALERTMANAGER}/api/v2/alerts", json=[]).status_code == 401
        auth = ("healer", stack.secret("ALERTMANAGER_PASSWORD"))
        assert http.get(f"{ALERTMANAGER}/api/v2/status", auth=auth).status_code == 200
        assert http.get(f"{FLOWER}/api/tasks").status_code == 401
        assert http.post(f"{API}/repair/demo-web").status_code == 401
        for path in ("/status", "/history", "/metrics"):  # reads need a token too
            assert http.get(f"{API}{path}").status_code == 401, path
        # The operator's token does not post alerts; only Alertmanager's does.
        operator = {"Authorization": f"Bearer {stack.secret('HEALER_API_TOKEN')}"}
        assert http.post(f"{API}/alerts", json={}, headers=operator).status_code == 403
    ping = stack.container("redis").exec_run(["redis-cli", "ping"]).output.decode()
    assert "NOAUTH" in ping, ping


# --- 3. the containerised healer heals ---------------------------------------------------------


def test_unhealthy_demo_is_restarted_through_the_event_path(
    stack: Stack, events: EventRecorder, request: pytest.FixtureRequest
) -> None:
    since = time.time()
    web = stack.container("demo-web")
    with httpx.Client(timeout=10) as http:
        assert http.post(f"{DEMO}/chaos/unhealthy").status_code == 200
    unhealthy = events.wait_for("health_status: unhealthy", "demo-web", timeout=90)[0]
    restart = events.wait_for("restart", "demo-web", timeout=RECONCILE)[0]
    assert restart["container_id"] == web.id
    latency = (restart["time_ns"] - unhealthy["time_ns"]) / 1e9
    # The healer's part ends with its restart call, whose first trace is Docker's SIGTERM.
    reacted = next(
        e for e in events.events("kill", "demo-web") if e["time_ns"] > unhealthy["time_ns"]
    )
    reaction = (reacted["time_ns"] - unhealthy["time_ns"]) / 1e9
    _say(
        request,
        f"unhealthy demo-web: the healer's restart began {reaction:.1f}s after Docker marked it "
        f"unhealthy; running again after {latency:.1f}s",
    )
    _say(request, "demo-web's events:\n" + events.describe())
    entry = wait_until(
        lambda: _acted(stack, "demo-web", since, condition="unhealthy"), timeout=30, interval=1
    )
    # The event path acted (the reconcile path, every RECONCILE s here, records "probe").
    assert entry["source"] == "event", _since(stack, since)
    assert latency < RECONCILE, events.describe()
    events.wait_for("health_status: healthy", "demo-web", timeout=90)


def test_crashed_demo_is_started_through_the_event_path(
    stack: Stack, events: EventRecorder, request: pytest.FixtureRequest
) -> None:
    since = time.time()
    # It may exit before it answers.
    with httpx.Client(timeout=10) as http, contextlib.suppress(httpx.TransportError):
        http.post(f"{DEMO}/chaos/crash")
    die = events.wait_for("die", "demo-web", timeout=30)[0]
    start = events.wait_for("start", "demo-web", timeout=RECONCILE)[0]
    latency = (start["time_ns"] - die["time_ns"]) / 1e9
    _say(request, f"crashed demo-web started {latency:.1f}s after it died")
    entry = wait_until(
        lambda: _acted(stack, "demo-web", since, condition="exited"), timeout=30, interval=1
    )
    assert entry["source"] == "event", entry
    assert latency < RECONCILE, events.describe()
    events.wait_for("health_status: healthy", "demo-web", timeout=90)


def test_an_alert_fires_and_alertmanager_makes_the_healer_repair(
    stack: Stack, events: EventRecorder, request: pytest.FixtureRequest
) -> None:
    """ContainerDown (`for: 1m`) on a service stopped by hand: Prometheus fires it,
    Alertmanager (behind its login) posts it to the healer, which records an alert-sourced
    repair request. The stack respects hand stops (HEALER_RESPECT_MANUAL_STOP), and so do
    alerts: the request ends skipped for that reason and the service stays down, as the
    operator meant; nothing else starts it either."""
    since = time.time()
    stack.container("demo-load").stop(timeout=5)
    stopped = events.wait_for("die", "demo-load", timeout=30)[0]

    def answered() -> dict[str, Any] | None:
        for entry in stack.history("demo-load"):
            if (
                entry["ts"] >= since
                and entry["source"] == "alert"
                and entry["outcome"]
                in (
                    "skipped",
                    "acted",
                )
            ):
                return entry
        return None

    entry = wait_until(answered, timeout=300, interval=2, message="an alert-sourced repair")
    latency = entry["ts"] - stopped["time_ns"] / 1e9
    _say(request, f"alert chain: ContainerDown reached the healer {latency:.1f}s after the stop")
    assert (entry["outcome"], entry["reason"]) == ("skipped", "manual_stop"), entry
    assert entry["condition"] == "alert" and entry["action"] == "start", entry
    asked = [e for e in stack.history("demo-load") if e["request_id"] == entry["request_id"]]
    assert any(
        e["outcome"] == "requested" and e["detail"].startswith("ContainerDown") for e in asked
    ), asked
    after = stopped["time_ns"]
    restarted = [e for e in events.events("start", "demo-load") if e["time_ns"] > after]
    assert not restarted, "a hand-stopped service stays down"
    # Alertmanager really had the alert, and its API needed the login to say so.
    auth = ("healer", stack.secret("ALERTMANAGER_PASSWORD"))
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{ALERTMANAGER}/api/v2/alerts").status_code == 401
        alerts = http.get(f"{ALERTMANAGER}/api/v2/alerts", auth=auth, params={"active": "false"})
    assert alerts.status_code == 200
    stack.container("demo-load").start()  # the operator brings it back
    # Nothing else was down or unhealthy for a minute, so no other alert asked for a repair.
    # (A report left at `starting` until the next reconcile once fired ContainerUnhealthy on
    # every service with a healthcheck about a minute after `up`, and the healer restarted
    # the whole stack, itself included.)
    asked_by_alerts = [
        e
        for e in stack.history()
        if e["source"] == "alert"
        and e["outcome"] in ("requested", "acted")
        and not e["sid"].endswith("/demo-load")
    ]
    assert not asked_by_alerts, _since(stack, stack.up_at)


def test_flower_lists_the_repair_tasks_by_name(stack: Stack) -> None:
    auth = ("admin", stack.secret("FLOWER_PASSWORD"))
    with httpx.Client(timeout=10) as http:
        params = {"taskname": "healer.repair.service"}
        resp = wait_until(
            lambda: http.get(f"{FLOWER}/api/tasks", auth=auth, params=params),
            60,
            2,
            "Flower",
            ignore=RETRY,
        )
    assert resp.status_code == 200, resp.text
    tasks = resp.json()
    assert tasks and all(t["name"] == "healer.repair.service" for t in tasks.values()), tasks
    assert any(t["state"] == "SUCCESS" for t in tasks.values()), tasks


# --- 4. a worker lost mid-repair ---------------------------------------------------------------


def _kill_main_process(c: Container) -> None:
    """SIGKILL from the host: a crash, so the restart policy brings the container back
    (`docker kill` would count as a stop by hand)."""
    c.reload()
    os.kill(int(c.attrs["State"]["Pid"]), signal.SIGKILL)


def _health(stack: Stack, service: str) -> str:
    state = stack.container(service).attrs["State"]
    return str((state.get("Health") or {}).get("Status", ""))


def _request_done(stack: Stack, request_id: str) -> dict[str, str] | None:
    with stack.api() as http:
        try:
            resp = http.get(f"/requests/{request_id}")
        except httpx.TransportError:
            return None
    data: dict[str, str] = resp.json() if resp.status_code == 200 else {}
    return data if data.get("status") == "done" else None


def test_killing_the_worker_mid_repair_loses_nothing(
    stack: Stack, request: pytest.FixtureRequest
) -> None:
    side = EventRecorder(stack.client, stack.side.name)
    try:
        worker = stack.container("healer-worker")
        with stack.api() as api:
            resp = api.post(f"/repair/{stack.side.name}/slow", json={"reason": "e2e"})
        assert resp.status_code == 202, resp.text
        request_id = resp.json()["task_id"]
        # The restart is under way: Docker sent SIGTERM, which the service ignores for 5 s.
        side.wait_for("kill", "slow", timeout=60)
        killed = time.monotonic()
        _kill_main_process(worker)
        final = wait_until(
            lambda: _request_done(stack, request_id), timeout=300, interval=2,
            message="the repair request to end with an outcome",
        )  # fmt: skip
        took = time.monotonic() - killed
        _say(
            request, f"worker killed mid-repair: request ended {final['outcome']!r} {took:.0f}s on"
        )
        assert final["outcome"] == "acted" and "redelivered" in final["reason"], final
        side.wait_for("start", "slow", timeout=30)
        kills = side.events("kill", "slow")
        sigterms = [e for e in kills if e["attributes"].get("signal") == "15"]
        assert len(sigterms) == 1, side.describe()
        wait_until(lambda: _health(stack, "healer-worker") == "healthy", timeout=120, interval=2)
    finally:
        side.stop()


def test_the_worker_restarting_itself_does_so_once(
    stack: Stack, events: EventRecorder, request: pytest.FixtureRequest
) -> None:
    worker = stack.container("healer-worker")
    started = time.monotonic()
    with stack.api() as api:
        resp = api.post("/repair/healer-worker", json={"reason": "e2e: restart yourself"})
    assert resp.status_code == 202, resp.text
    request_id = resp.json()["task_id"]
    final = wait_until(
        lambda: _request_done(stack, request_id), timeout=300, interval=2,
        message="the self-restart request to end with an outcome",
    )  # fmt: skip
    _say(
        request,
        f"healer-worker restarted itself: request ended '{final['outcome']}' "
        f"{time.monotonic() - started:.0f}s later",
    )
    assert final["outcome"] == "acted", final
    # The outcome is recorded after any second restart would have happened: one restart only.
    starts = events.events("start", "healer-worker")
    assert [e["container_id"] for e in starts] == [worker.id], events.describe()


# --- 5. down -----------------------------------------------------------------------------------


def test_down_with_volumes_leaves_nothing(stack: Stack, request: pytest.FixtureRequest) -> None:
    result = stack.run("down", "--volumes", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert stack.remaining() == {"containers": [], "networks": [], "volumes": []}
    # And the socket proxies' networks are gone with it (no dangling internal network).
    names = [n.name for n in stack.client.networks.list() if n.name.startswith(stack.project)]
    assert names == [], names
