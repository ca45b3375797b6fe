"""The HA profile for real: `scripts/stack.sh up --ha` starts the stack with one master, two
replicas and three sentinels, every healer role on them; the master is then killed (`docker
stop -t 0`: SIGKILL, and no restart by its policy until the test starts it again) and the
containerised healer follows the promoted replica: /healthz names the new master, a repair
works, the failover is counted. `down --volumes` then leaves nothing, the HA volumes
included. Uses the stack's images as `scripts/stack.sh` finds or builds them (HEALER_IMAGE
picks the healer's)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.e2e.test_stack import STACK_IMAGES, Stack, _image_exists, _say
from tests.support import ComposeProject, wait_until
from tests.support.healer import ROOT

# Alongside (tests/conftest.py): long, mostly waiting, its bounds are minutes. It publishes on
# 127.0.0.2, so it runs beside the main stack e2e (127.0.0.1) without a port clash.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.alongside]
ADDR = "127.0.0.2"
API = f"http://{ADDR}:8000"

NODES = ("redis", "redis-replica-1", "redis-replica-2")
SENTINELS = ("redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3")


@pytest.fixture(scope="module")
def ha_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack-ha")
    s = Stack(tmp, docker_client)
    s.env["HEALER_PROJECTS"] = s.project
    s.env["SENTINEL_DOWN_AFTER_MS"] = "2000"
    s.env["PUBLISH_ADDR"] = ADDR
    s.env["HEALER_API_ALLOWED_HOSTS"] = f"localhost,127.0.0.1,::1,healer-api,{ADDR}"
    present = {name for name in STACK_IMAGES if _image_exists(docker_client, name)}
    try:
        start = time.monotonic()
        result = s.run("up", "--ha")
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        _say(request, f"`scripts/stack.sh up --ha` took {time.monotonic() - start:.1f}s")
        yield s
    finally:
        if s.remaining()["containers"]:
            s.run("down", "--volumes", timeout=300)
        leftovers = ComposeProject(s.project, tmp, ROOT / "docker-compose.yml", docker_client)
        problems = leftovers._remove_labelled()
        for name in STACK_IMAGES:
            if name not in present and _image_exists(docker_client, name):
                docker_client.images.remove(name, force=True)
        assert not problems, problems


def _health() -> dict[str, object]:
    try:
        body: dict[str, object] = httpx.get(f"{API}/healthz", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return body


def _address(stack: Stack, service: str) -> str:
    c = stack.container(service)
    c.reload()
    ip = next(iter(c.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    return f"{ip}:6379"


def test_every_role_runs_on_the_sentinels_and_follows_a_new_master(
    ha_stack: Stack, request: pytest.FixtureRequest
) -> None:
    stack = ha_stack
    for name in (*NODES, *SENTINELS):
        assert stack.container(name).attrs["State"]["Health"]["Status"] == "healthy", name
    first = _address(stack, "redis")
    wait_until(lambda: _health().get("redis_master") == first, 60, message=str(_health()))

    stack.container("redis").stop(timeout=0)
    killed_at = time.monotonic()
    replicas = {_address(stack, n) for n in NODES[1:]}
    wait_until(lambda: _health().get("redis_master") in replicas, 90, 0.5, str(_health()))
    wait_until(lambda: _health().get("ok") is True, 60, 0.5, str(_health()))
    _say(
        request,
        f"HA: /healthz on the new master {time.monotonic() - killed_at:.1f}s after the kill",
    )

    with stack.api() as api:

        def accepted() -> httpx.Response | None:
            r = api.post("/repair/alertmanager")
            return r if r.status_code == 202 else None

        resp = wait_until(
            accepted,
            60,
            1,
            "a repair accepted after the failover",
            ignore=(httpx.HTTPError,),
        )
        rid = resp.json()["task_id"]
        record = wait_until(
            lambda: (d := api.get(f"/requests/{rid}").json()).get("status") == "done" and d,
            120,
            1,
            "the repair after the failover",
        )
    assert record["outcome"] == "acted", record
    _say(request, f"HA: a repair acted {time.monotonic() - killed_at:.1f}s after the kill")
    stack.container("redis").start()  # it comes back as a replica of the new master

    def failovers() -> float:
        with stack.api() as api:  # /metrics needs a token too
            text = api.get("/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("healer_redis_failovers_total"))
        return float(line.split()[1])

    wait_until(lambda: failovers() >= 1, 60, 1, "healer_redis_failovers_total")


def test_down_with_volumes_leaves_nothing_of_the_ha_profile(ha_stack: Stack) -> None:
    result = ha_stack.run("down", "--volumes", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ha_stack.remaining() == {"containers": [], "networks": [], "volumes": []}
