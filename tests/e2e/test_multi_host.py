"""One Celery cluster heals two Docker engines.

Host A is the machine's engine, run by a full `healer run` (worker, beat, events watcher,
API); host B is a private dockerd started by the test, run by `healer run --agent` (worker
and events watcher only). Both share one Redis. The same compose project (same project, same
service, same container names) runs on both engines. Docker's event streams of both engines
are the oracle for what was touched; the agents' logs say which agent acted.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.support import (
    ComposeFactory,
    ComposeProject,
    EventRecorder,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    wait_until,
)
from tests.support.dockerd import PrivateEngine
from tests.support.healer import HealerFactory, HealerStack

AUTH = {"Authorization": "Bearer test-token-0123456789"}
ALERTS = {"Authorization": "Bearer alerts-token-0123456789"}  # as tests/conftest.py sets it
# HEALER_HEARTBEAT_INTERVAL: host_down after 2 × 2 s + 2 s without a heartbeat. It runs beside
# other tests: a heartbeat thread late by 6 s would take more load than this machine sees.
HEARTBEAT = 2.0
DOWN_AFTER = 2 * HEARTBEAT + HEARTBEAT


@pytest.fixture
def engine_b(test_image: str) -> Iterator[PrivateEngine]:
    """Host B's engine: a private dockerd (tests/support/dockerd.py), removed afterwards."""
    engine = PrivateEngine("b")
    try:
        engine.start()
        engine.load_image(test_image)
        yield engine
    finally:
        problems = engine.close()
        assert not problems, problems


def _project_on(engine: PrivateEngine, twin: ComposeProject) -> ComposeProject:
    """The same compose file under the same project name, on the private engine."""
    project = ComposeProject(
        name=twin.name,
        dir=twin.dir,
        file=twin.file,
        client=engine.client,
        env={"DOCKER_HOST": engine.url},
    )
    project.up(wait=True, timeout=60)
    return project


def _status(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/status", headers=AUTH, timeout=10).json()
    return data


def _host_state(url: str, host: str) -> str:
    return str(_status(url)["hosts"].get(host, {}).get("status", ""))


def _attempts(url: str, *ids: str) -> tuple[int, ...]:
    """Repairs in the current `exited` episode of each service (the condition the test
    causes; a healthcheck blip on a loaded machine is another condition's business)."""
    services = _status(url)["services"]
    return tuple(int(services.get(i, {}).get("episodes", {}).get("exited", 0)) for i in ids)


def _diagnose(c: Cluster) -> str:
    services = _status(c.url)["services"]
    entries = httpx.get(
        f"{c.url}/history", params={"service": c.sid}, headers=AUTH, timeout=10
    ).json()
    return json.dumps(
        {"a": services.get(c.qa), "b": services.get(c.qb), "history": entries["entries"]},
        indent=1,
        default=str,
    )


def _log(stack: HealerStack, role: str) -> str:
    return (stack.log_dir / f"{role}.out").read_text(errors="replace")


def _agent_processes(host: str) -> list[int]:
    """PIDs whose environment says they serve `host` (the agent and all its children)."""
    marker = f"HEALER_HOST={host}".encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in env:
            pids.append(int(name))
    return pids


def _wait_acted(stack: HealerStack, role: str, qualified: str, count: int) -> None:
    """The agent's own log shows `count` repairs of `host/project/service` acted."""
    pattern = re.compile(re.escape(qualified) + r" \w+ acted")
    wait_until(
        lambda: len(pattern.findall(_log(stack, role))) >= count,
        timeout=60,
        message=f"{role} to act on {qualified} ({count}x):\n" + stack.tail(),
    )


def _touched(rec: EventRecorder, since: int) -> list[str]:
    """What was done to the project's containers after event number ``since``. Health reports
    are not: the engine's healthcheck of a container started a moment before may still turn
    it healthy then."""
    return [e["action"] for e in rec.events()[since:] if not e["action"].startswith("health")]


def _kill(project: ComposeProject) -> str:
    container = project.container("web")
    container.kill()
    return str(container.id)


@dataclass
class Cluster:
    """Host A (the machine's engine, `healer run`) and host B (private engine, an agent)."""

    host_a: str
    host_b: str
    project_a: ComposeProject
    project_b: ComposeProject
    stack_a: HealerStack
    stack_b: HealerStack
    a_events: EventRecorder
    b_events: EventRecorder
    url: str
    agent_b: subprocess.Popen[bytes] | None = None

    @property
    def sid(self) -> str:
        return f"{self.project_a.name}/web"

    @property
    def qa(self) -> str:
        return f"{self.host_a}/{self.sid}"

    @property
    def qb(self) -> str:
        return f"{self.host_b}/{self.sid}"


def test_two_engines_one_cluster(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    engine_b: PrivateEngine,
    docker_client: docker.DockerClient,
    test_image: str,
) -> None:
    suffix = secrets.token_hex(3)
    host_a, host_b = f"a-{suffix}", f"b-{suffix}"
    # Three failed checks in a row before `unhealthy`: a loaded CI machine's slow exec is
    # not a failure this test is about.
    yaml = compose_yaml(healthy_service_yaml(test_image, "web", interval="2s", retries=3))
    project_a = compose_project(yaml, "multi", wait=True)
    project_b = _project_on(engine_b, project_a)
    port = free_port()
    common = {
        "HEALER_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        "WATCHDOG_INTERVAL": "2",
        "HEALER_API_PORT": str(port),
        "HEALER_API_HOST": "127.0.0.1",
    }
    c = Cluster(
        host_a,
        host_b,
        project_a,
        project_b,
        healer_stack(project_a.name, HEALER_HOST=host_a, **common),
        healer_stack(project_a.name, HEALER_HOST=host_b, DOCKER_HOST=engine_b.url, **common),
        EventRecorder(docker_client, project_a.name),
        EventRecorder(engine_b.client, project_a.name),
        f"http://127.0.0.1:{port}",
    )
    try:
        _scenario(c)
    finally:
        c.a_events.stop()
        c.b_events.stop()
        c.stack_b.stop_all()
        c.stack_a.stop_all()
        project_b.down()


def _scenario(c: Cluster) -> None:
    _start_both_hosts(c)
    _ambiguous_ids_are_refused(c)
    _each_host_heals_its_own(c)
    _api_repair_for_b_stays_on_b(c)
    _alert_for_b_runs_on_b(c)
    _guard_state_is_per_host(c)
    _b_down_a_heals(c)
    _b_rejoins(c)
    _scale_of_b_runs_on_b(c)
    _the_host_shows_everywhere(c)


def _start_both_hosts(c: Cluster) -> None:

    c.stack_a.start("run-a", [sys.executable, "-m", "healer", "run", "--workers", "2"])
    c.agent_b = c.stack_b.start("agent-b", [sys.executable, "-m", "healer", "run", "--agent"])
    wait_until(
        lambda: _host_state(c.url, c.host_a) == "up" and _host_state(c.url, c.host_b) == "up",
        timeout=90,
        ignore=(httpx.HTTPError,),
        message="both hosts up in /status:\n" + c.stack_a.tail() + c.stack_b.tail(),
    )
    # Both engines call themselves by the machine's name; the configured names are the ids.
    hosts = _status(c.url)["hosts"]
    assert hosts[c.host_a]["engine_name"] == hosts[c.host_b]["engine_name"]
    wait_until(
        lambda: {c.qa, c.qb} <= set(_status(c.url)["services"]),
        timeout=30,
        message="both hosts' services in /status",
    )


def _ambiguous_ids_are_refused(c: Cluster) -> None:
    # An id two hosts share is ambiguous: 409 listing both, and the CLI says the same.
    for ambiguous in ("web", c.sid):
        resp = httpx.post(f"{c.url}/repair/{ambiguous}", headers=AUTH, timeout=10)
        assert resp.status_code == 409, resp.text
        assert c.qa in resp.text and c.qb in resp.text
    cli = c.stack_a.cli("repair", "web", check=False)
    assert cli.returncode != 0 and c.qa in cli.stderr and c.qb in cli.stderr


def _each_host_heals_its_own(c: Cluster) -> None:
    # 1. A failure on each host, repaired by that host's own agent. RESTART_COOLDOWN is 30 s:
    # were the guard shared, the second repair would be skipped for the cooldown.
    dead_a, dead_b = _kill(c.project_a), _kill(c.project_b)
    c.a_events.wait_for("start", "web", count=1, timeout=60)
    c.b_events.wait_for("start", "web", count=1, timeout=60)
    _wait_acted(c.stack_a, "run-a", c.qa, 1)
    _wait_acted(c.stack_b, "agent-b", c.qb, 1)
    assert c.qb not in _log(c.stack_a, "run-a") and c.qa not in _log(c.stack_b, "agent-b")
    assert c.project_a.container("web").id == dead_a and c.project_b.container("web").id == dead_b
    # B's entry is its agent's last probe: wait for the one after the repair.
    try:
        wait_until(lambda: _attempts(c.url, c.qa, c.qb) == (1, 1), timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"one attempt each, not: {_diagnose(c)}") from exc
    status = _status(c.url)["services"]
    assert (status[c.qa]["host"], status[c.qb]["host"]) == (c.host_a, c.host_b)


def _api_repair_for_b_stays_on_b(c: Cluster) -> None:
    # 2. An operator's repair for B through the API runs on B, never on A's twin.
    started_a = c.project_a.container("web").attrs["State"]["StartedAt"]
    a_before = len(c.a_events.events())
    resp = httpx.post(f"{c.url}/repair/{c.host_b}/{c.sid}", headers=AUTH, timeout=10)
    assert resp.status_code == 202, resp.text
    assert resp.json()["host"] == c.host_b
    task = resp.json()["task_id"]
    outcome = wait_until(
        lambda: (
            httpx.get(f"{c.url}/requests/{task}", headers=AUTH, timeout=5).json().get("outcome")
        ),
        timeout=60,
        message="the API repair for host B to finish",
    )
    assert outcome == "acted"
    assert httpx.get(f"{c.url}/requests/{task}", headers=AUTH, timeout=5).json()["host"] == c.host_b
    c.b_events.wait_for("restart", "web", count=1, timeout=10)
    _wait_acted(c.stack_b, "agent-b", c.qb, 2)
    # A's engine saw nothing: its twin of the same name was not touched.
    assert _touched(c.a_events, a_before) == [], c.a_events.describe()
    assert c.project_a.container("web").attrs["State"]["StartedAt"] == started_a


def _alert_for_b_runs_on_b(c: Cluster) -> None:
    # 3. An alert labelled with host B runs there too (instance:port form).
    a_before = len(c.a_events.events())
    alert = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "ContainerUnhealthy",
                    "service": "web",
                    "auto_repair": "true",
                    "instance": f"{c.host_b}:9323",
                },
                "startsAt": "2026-01-01T00:00:00Z",
            }
        ],
    }
    resp = httpx.post(f"{c.url}/alerts", headers=ALERTS, json=alert, timeout=10)
    assert resp.status_code == 202, resp.text
    [result] = resp.json()["results"]
    assert (result["decision"], result["host"]) == ("queued", c.host_b), result
    c.b_events.wait_for("restart", "web", count=2, timeout=60)
    assert _touched(c.a_events, a_before) == [], c.a_events.describe()


def _guard_state_is_per_host(c: Cluster) -> None:
    # 4. Guard state is per host: resetting B's episodes leaves A's alone; pausing B's web
    # leaves A's healing.
    c.stack_a.cli("reset", c.qb)
    wait_until(
        lambda: _attempts(c.url, c.qa, c.qb) == (1, 0),
        timeout=30,
        message=f"B's episodes reset, A's kept: {_attempts(c.url, c.qa, c.qb)}",
    )
    c.stack_a.cli("pause", c.qb)
    _kill(c.project_a)
    _kill(c.project_b)
    c.a_events.wait_for("start", "web", count=2, timeout=60)
    history = httpx.get(
        f"{c.url}/history", params={"service": c.qb}, headers=AUTH, timeout=10
    ).json()["entries"]
    wait_until(
        lambda: any(
            e["outcome"] == "skipped" and e["reason"] == "paused" and e["host"] == c.host_b
            for e in httpx.get(f"{c.url}/history", params={"service": c.qb}, headers=AUTH).json()[
                "entries"
            ]
        ),
        timeout=30,
        message=f"B's paused web recorded as skipped: {history}",
    )
    assert c.project_b.container("web").status == "exited"
    c.stack_a.cli("resume", c.qb)
    c.b_events.wait_for("start", "web", count=3, timeout=60)


def _b_down_a_heals(c: Cluster) -> None:
    # 5. B's agent killed by PID: B is host_down within a heartbeat or two; A keeps healing.
    killed_at = time.monotonic()
    assert c.agent_b is not None
    os.kill(c.agent_b.pid, signal.SIGKILL)
    c.agent_b.wait(timeout=10)
    wait_until(
        lambda: _host_state(c.url, c.host_b) == "host_down",
        timeout=DOWN_AFTER + 4 * HEARTBEAT + 10,
        message="B reported host_down",
    )
    detected = time.monotonic() - killed_at
    print(f"host_down detected {detected:.1f}s after the kill (down after {DOWN_AFTER}s)")
    wait_until(
        lambda: not _agent_processes(c.host_b),
        timeout=30,
        message="B's worker and events watcher to die with their agent",
    )
    metrics = httpx.get(f"{c.url}/metrics", headers=AUTH, timeout=10).text
    assert f'healer_host_up{{host="{c.host_b}"}} 0.0' in metrics
    assert f'healer_host_up{{host="{c.host_a}"}} 1.0' in metrics
    assert _status(c.url)["services"][c.qb]["host_status"] == "host_down"
    refused = httpx.post(f"{c.url}/repair/{c.host_b}/{c.sid}", headers=AUTH, timeout=10)
    assert refused.status_code == 503 and "host_down" in refused.text
    _kill(c.project_a)
    c.a_events.wait_for("start", "web", count=3, timeout=60)
    _wait_acted(c.stack_a, "run-a", c.qa, 3)


def _b_rejoins(c: Cluster) -> None:
    # 6. B's agent restarted rejoins, and B is healed again.
    c.stack_b.start("agent-b2", [sys.executable, "-m", "healer", "run", "--agent"])
    wait_until(
        lambda: _host_state(c.url, c.host_b) == "up",
        timeout=60,
        ignore=(httpx.HTTPError,),
        message="B up again:\n" + c.stack_b.tail(),
    )
    _kill(c.project_b)
    c.b_events.wait_for("start", "web", count=4, timeout=60)
    wait_until(
        lambda: re.search(re.escape(c.qb) + r" \w+ acted", _log(c.stack_b, "agent-b2")),
        timeout=30,
        message="the restarted agent to act on B",
    )


def _scale_of_b_runs_on_b(c: Cluster) -> None:
    # 7. An operator's scale of B's service, asked on host A, runs on B's agent and engine.
    scaled = c.stack_a.cli("scale", c.qb, "2").stdout
    assert scaled.startswith(f"scaled: {c.qb} 1 -> 2"), scaled
    assert len(c.project_b.containers("web")) == 2 and len(c.project_a.containers("web")) == 1


def _the_host_shows_everywhere(c: Cluster) -> None:
    # Status, history and report show the host.
    out = c.stack_a.status()
    assert out["services"][c.qb]["host"] == c.host_b and out["hosts"][c.host_b]["status"] == "up"
    # Each agent publishes its strategies (the API checks a plugin against the service's host).
    assert "example-exec" in out["hosts"][c.host_b]["strategies"].split(","), out["hosts"]
    listed = c.stack_a.read("hosts")
    assert re.search(rf"{re.escape(c.host_b)}\s+up .*strategies: .*example-exec", listed), listed
    text = c.stack_a.read("status")
    assert re.search(rf"{re.escape(c.host_b)}\s+{re.escape(c.qb)}", text), text
    report = c.stack_a.read("report")
    assert c.qa in report and c.qb in report, report
    entries = c.stack_a.history(None, "--host", c.host_b)
    assert entries and all(e["host"] == c.host_b for e in entries)
