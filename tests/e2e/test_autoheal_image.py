"""The docker-autoheal one-liner on the healer's own image: one container, the socket, one
variable, no Redis given. A `docker run` container with the label and a failing healthcheck is
restarted; one without the label is left alone; the healer runs unprivileged.

The image is the one scripts/provision.sh built (deploy/images/build.sh); HEALER_IMAGE names
another. The label is unique to this test, not `all`: the engine is shared with other tests,
whose unhealthy containers are not this healer's to restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from tests.support import unique_project_name, wait_until

IMAGE = os.environ.get("HEALER_IMAGE", "compose-healer:latest")
SOCKET = "/var/run/docker.sock"
HEALTHCHECK = {
    "test": ["CMD", "test", "-f", "/tmp/ok"],
    "interval": 1_000_000_000,
    "timeout": 1_000_000_000,
    "retries": 1,
}
FOREVER = "exec sleep 2147483647"
HEALS_ON_RESTART = f"if [ -f /marker ]; then touch /tmp/ok; else touch /marker; fi; {FOREVER}"


@pytest.fixture
def containers(docker_client: docker.DockerClient) -> Iterator[list[Container]]:
    made: list[Container] = []
    yield made
    for c in made:
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True, v=True)


def _health(c: Container) -> str:
    c.reload()
    return str((c.attrs["State"].get("Health") or {}).get("Status", ""))


def test_the_autoheal_one_liner_runs_the_whole_healer(
    docker_client: docker.DockerClient, test_image: str, containers: list[Container]
) -> None:
    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(
            f"{IMAGE} is not built: scripts/provision.sh (deploy/images/build.sh) builds it"
        )
    label = unique_project_name("autoheal")
    healer = docker_client.containers.run(
        IMAGE,
        environment={"AUTOHEAL_CONTAINER_LABEL": label},
        volumes={SOCKET: {"bind": SOCKET, "mode": "rw"}},
        network_mode="none",  # the healer needs the socket, not a network
        name=label,
        detach=True,
    )
    containers.append(healer)

    def run(command: str, labels: dict[str, str]) -> Container:
        c = docker_client.containers.run(
            test_image,
            ["sh", "-c", command],
            labels=labels,
            healthcheck=HEALTHCHECK,
            network_mode="none",
            init=True,
            detach=True,
            name=unique_project_name("plain"),
        )
        containers.append(c)
        return c

    def logs() -> str:
        return str(healer.logs().decode(errors="replace"))

    wait_until(lambda: "managing containers labelled" in logs(), 120, 1, "healer run")
    assert "built-in Redis" in logs()
    other = run(FOREVER, {})
    other.reload()
    other_started = other.attrs["State"]["StartedAt"]
    mine = run(HEALS_ON_RESTART, {label: "true"})
    started = time.monotonic()
    wait_until(lambda: _health(mine) == "healthy", 90, 0.5, "the restart:\n" + logs())
    print(f"labelled container healthy again {time.monotonic() - started:.1f}s after its start")

    out = healer.exec_run(["healer", "history", "--json"])
    assert out.exit_code == 0, out.output
    entries = json.loads(out.output)["entries"]  # the API's body: entries and `next`
    acted = [e for e in entries if e["outcome"] == "acted"]
    assert [(e["sid"], e["action"]) for e in acted] == [(f"-/{mine.name}", "restart")]
    assert _health(other) == "unhealthy"  # unhealthy all along, and never restarted
    assert other.attrs["State"]["StartedAt"] == other_started
    users = {row[0] for row in _top(healer)}
    assert users == {"10001"}, users  # every process, Redis included, dropped from root


def _top(c: Container) -> list[Any]:
    rows: list[Any] = c.top(ps_args="-eo user,pid,args")["Processes"]
    # The engine's own execs (healthcheck, `healer history`) run as the image user.
    return [r for r in rows if "healer-healthcheck" not in r[2] and "history" not in r[2]]
