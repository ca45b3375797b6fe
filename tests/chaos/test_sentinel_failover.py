"""Redis through Sentinel: the master is SIGKILLed under a running `healer run`, and the
healer rides it out. One master, two replicas and three sentinels, all real redis-server
processes on loopback (on ports the OS found free), stopped by their PIDs.

Measured and asserted: the seconds until repairs work again; an unhealthy container of the
failover window repaired once; 40 concurrent requests after the failover giving one restart;
every accepted request finished; the soak checker's guard invariants (no overlapping repairs,
no episode over budget) on the operation log; the failover in history, metrics and /healthz.
Then a sentinel and a replica die and the healer does not notice.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.chaos import soak_check
from tests.chaos.conftest import HealerRun, StackFactory, project_on
from tests.support import (
    ComposeFactory,
    ComposeProject,
    EventsFactory,
    compose_yaml,
    free_ports,
    healthy_service_yaml,
    wait_until,
)
from tests.support.dockerd import PrivateEngine
from tests.support.events import EventRecorder
from tests.support.sentinel import SentinelCluster

TOKEN = "chaos-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONCURRENT = 40
VISIBILITY = 30


@pytest.fixture
def cluster() -> Iterator[SentinelCluster]:
    ports = free_ports(6)
    c = SentinelCluster(ports[:3], ports[3:])
    try:
        c.start()
        yield c
    finally:
        c.close()


# One client: a new httpx client per call builds a TLS context each time (slow, and unused).
HTTP = httpx.Client(timeout=10, headers=AUTH)  # every route but health needs the token


def _step(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", flush=True)


@pytest.fixture
def remote_project(
    private_engine: PrivateEngine, test_image: str, tmp_path: Path
) -> Iterator[ComposeProject]:
    """A service on a second Docker engine, which an agent of the cluster serves."""
    yaml = compose_yaml(healthy_service_yaml(test_image, "remote", retries=3))
    project = project_on(private_engine.url, private_engine.client, tmp_path / "b", yaml, "far")
    project.up(wait=True)
    yield project
    project.run("down", "-t", "0", check=False)


def _get(url: str) -> httpx.Response | None:
    try:
        return HTTP.get(url, timeout=3)
    except httpx.HTTPError:
        return None


def _repair(api: str, service: str) -> httpx.Response | None:
    try:
        return HTTP.post(f"{api}/repair/{service}", headers=AUTH)
    except httpx.HTTPError:
        return None


def _repair_as_a_client_would(api: str, service: str) -> tuple[httpx.Response | None, str]:
    """Ask for a repair; on a 503, wait its Retry-After and ask again (3 tries): (the last
    answer, what the refusals said)."""
    said = ""
    for _ in range(3):
        resp = _repair(api, service)
        if resp is None or resp.status_code != 503:
            return resp, said
        said += f"{resp.text} (Retry-After {resp.headers.get('Retry-After')}); "
        time.sleep(float(resp.headers.get("Retry-After", "1")))
    return resp, said


def _record(api: str, rid: str) -> dict[str, str]:
    resp = _get(f"{api}/requests/{rid}")
    return resp.json() if resp is not None and resp.status_code == 200 else {}


def _repair_until_restarted(
    api: str, rec: EventRecorder, service: str, timeout: float, ref: str = ""
) -> tuple[list[str], int]:
    """Ask for a repair every half second until the service restarts: (accepted ids, number
    refused). A refused request (503) may still run: the engine's events are the truth."""
    accepted: list[str] = []
    refused = 0
    before = len(rec.events("restart", service))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = _repair(api, ref or service)
        if resp is not None and resp.status_code == 202:
            accepted.append(resp.json()["task_id"])
        else:
            refused += 1
        if len(rec.events("restart", service)) > before:
            return accepted, refused
        time.sleep(0.5)
    raise AssertionError(f"{service} not restarted in {timeout}s: {accepted}\n{rec.describe()}")


def _first_restart_after(rec: EventRecorder, service: str, t: float) -> float:
    return min(e["time_ns"] / 1e9 for e in rec.events("restart", service) if e["time_ns"] / 1e9 > t)


def _metric(api: str, name: str) -> float:
    resp = _get(f"{api}/metrics")
    assert resp is not None
    for line in resp.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


# Alone (tests/conftest.py): it measures the seconds without repairs across a failover, and
# a task held by a worker when the master dies may wait out its visibility timeout under load.
@pytest.mark.serial
def test_the_healer_rides_out_the_death_of_the_redis_master(
    cluster: SentinelCluster,
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    chaos_stack: StackFactory,
    healer_run: Callable[..., HealerRun],
    test_image: str,
    tmp_path: Path,
    private_engine: PrivateEngine,
    remote_project: ComposeProject,
) -> None:
    names = ("web", "probe", "sick", "first", "last")
    project = compose_project(
        # retries=3: a healthcheck slow on a busy machine is not what this test is about.
        compose_yaml(*(healthy_service_yaml(test_image, n, retries=3) for n in names)),
        wait=True,
    )
    rec = docker_events(project.name)
    oplog = tmp_path / "oplog.jsonl"
    stack = chaos_stack(
        cluster.url,
        project.name,
        RESTART_COOLDOWN="300",
        HEALER_HEARTBEAT_INTERVAL="1",
        HEALER_OPLOG=str(oplog),
        # A task the worker held when the master died is redelivered after this (its restore
        # went to the dead master): short here, so the test sees it finish.
        HEALER_TASK_TIME_LIMIT="20",
        HEALER_VISIBILITY_TIMEOUT=str(VISIBILITY),
    )
    run = healer_run(stack.env, workers=1)
    api = f"http://127.0.0.1:{stack.env['HEALER_API_PORT']}"
    old = cluster.master()
    # An agent for the second engine (host node-b), on the same Sentinel cluster.
    agent = chaos_stack(
        cluster.url,
        remote_project.name,
        DOCKER_HOST=private_engine.url,
        HEALER_HOST="node-b",
        HEALER_HEARTBEAT_INTERVAL="1",
        RESTART_COOLDOWN="300",
    )
    agent.start("agent-b", [sys.executable, "-m", "healer", "run", "--agent"])
    remote_rec = EventRecorder(private_engine.client, remote_project.name)
    remote = f"node-b/{remote_project.name}/remote"

    last_health: list[str] = []

    def master_in_use() -> str:
        resp = _get(f"{api}/healthz")
        last_health[:] = [f"{resp.status_code} {resp.text}" if resp is not None else "no answer"]
        return str(resp.json().get("redis_master", "")) if resp is not None else ""

    def health_said() -> str:
        return f"/healthz said {last_health}; the healer's log:\n{run.tail()}"

    _step("healer starting")
    wait_until(lambda: master_in_use() == f"127.0.0.1:{old}", 60, message=run.tail())
    # The worker is consuming once a request is carried out (its first heartbeat too).
    _repair_until_restarted(api, rec, "first", timeout=60)

    # --- the failover --------------------------------------------------------------------
    _step("killing the master")
    killed_at = time.time()
    cluster.kill9(old)
    sick = project.container("sick")
    subprocess.run(["docker", "exec", sick.id, "rm", "/tmp/healthy"], check=True)
    new, promoted_after = cluster.wait_for_failover(old)
    _step("failover done; repairing probe")
    accepted, refused = _repair_until_restarted(api, rec, "probe", timeout=90)
    without_repairs = _first_restart_after(rec, "probe", killed_at) - killed_at
    # The agent on the other engine follows the new master too.
    _step("repairing a service of the agent's engine")
    _repair_until_restarted(api, remote_rec, "remote", timeout=60, ref=remote)
    without_remote_repairs = _first_restart_after(remote_rec, "remote", killed_at) - killed_at

    # 40 concurrent requests for one service, right after: one restart.
    _step("40 requests")
    with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
        tries = list(pool.map(lambda _: _repair_as_a_client_would(api, "web"), range(CONCURRENT)))
    answers = [answer for answer, _ in tries]
    # A 503 right after a failover is an answer (the new master may refuse writes until a
    # replica is back): a client waits its Retry-After and asks again. All get accepted.
    refusals = [said for _, said in tries if said]
    assert all(a is not None and a.status_code == 202 for a in answers), (refusals, run.tail())
    burst = [a.json()["task_id"] for a in answers if a is not None]
    accepted += burst

    def finished() -> dict[str, dict[str, str]]:
        return {rid: _record(api, rid) for rid in accepted}

    _step("waiting for requests")
    wait_until(
        lambda: not soak_check.unfinished(finished()),
        VISIBILITY * 3,
        1,
        "accepted requests",
    )
    records = finished()
    late = [
        float(r["finished_at"]) - float(r["queued_at"])
        for r in records.values()
        if float(r["finished_at"]) - float(r["queued_at"]) > VISIBILITY / 2
    ]
    outcomes = [records[rid].get("outcome") for rid in burst]
    assert outcomes.count("acted") == 1, outcomes
    # The container unhealthy during the failover: repaired once it was over, once.
    _step("waiting for sick")
    rec.wait_for("restart", "sick", timeout=60)
    time.sleep(5)  # a second repair would come within a couple of reconciles
    assert len(rec.events("restart", "web")) == 1, rec.describe()
    assert len(rec.events("restart", "sick")) == 1, rec.describe()

    # The soak checker's guard invariants over the operation log, across the failover.
    ops = [json.loads(line) for line in oplog.read_text().splitlines() if line.strip()]
    assert soak_check.overlapping(ops) == []
    assert soak_check.over_budget(ops, 3) == []

    # Visible: /healthz names the new master, history and metrics count one failover.
    _step("visibility")
    try:
        wait_until(lambda: master_in_use() == f"127.0.0.1:{new}", 30)
    except AssertionError as exc:
        raise AssertionError(health_said()) from exc
    wait_until(lambda: _metric(api, "healer_redis_failovers_total") == 1, 30, message=run.tail())
    history = HTTP.get(f"{api}/history", params={"service": "redis"}).json()
    moved = [e for e in history["entries"] if e["reason"] == "redis_failover"]
    assert len(moved) == 1 and f":{old} to 127.0.0.1:{new}" in moved[0]["detail"], moved

    # --- a sentinel and a replica die: the healer does not notice --------------------------
    _step("sentinel and replica loss")
    cluster.start_redis(old, replica_of=new)  # the old master comes back as a replica
    wait_until(lambda: cluster.good_replicas() == 2, 30)
    cluster.kill9(cluster.sentinel_ports[0])
    cluster.kill9(next(p for p in cluster.redis_ports if p not in (new, old)))
    quiet_at = time.time()
    _, refused_after = _repair_until_restarted(api, rec, "last", timeout=20)
    assert _metric(api, "healer_redis_failovers_total") == 1
    assert master_in_use() == f"127.0.0.1:{new}"
    report = {
        "promoted_after_s": round(promoted_after, 2),
        "seconds_without_repairs": round(without_repairs, 2),
        "seconds_without_repairs_on_the_agents_engine": round(without_remote_repairs, 2),
        "refused_during_failover": refused,
        "accepted_during_failover": len(accepted) - len(burst),
        "burst_refused_at_first": len(refusals),
        "burst_refusals": sorted(set(refusals))[:3],
        "finished_over_15s_after_queued": len(late),
        "repair_after_sentinel_and_replica_loss_s": round(time.time() - quiet_at, 2),
        "refused_after_sentinel_and_replica_loss": refused_after,
    }
    print("SENTINEL FAILOVER", json.dumps(report))
