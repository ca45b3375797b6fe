"""The read-only Docker socket proxy's real HAProxy configuration (deploy/socket-proxy/), run by
the real HAProxy in front of the real engine: it allows exactly the reads its roles make. The
worker's proxy is tests/integration/test_docker_proxy.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.support import free_port, wait_until

CONFIG_DIR = Path(__file__).resolve().parents[2] / "deploy" / "socket-proxy"
SOCKET = "/var/run/docker.sock"
# Calls no level may make, whatever the id: exec, attach, reading a container's files or logs,
# swarm, plugins, secrets, pulling, building, committing, changing the engine.
NEVER = [
    ("POST", "/containers/{id}/exec"),
    ("POST", "/v1.41/containers/{id}/exec"),
    ("POST", "/exec/abc/start"),
    ("POST", "/containers/{id}/attach"),
    ("GET", "/containers/{id}/attach/ws"),
    ("GET", "/containers/{id}/logs"),
    ("GET", "/containers/{id}/archive?path=/"),
    ("GET", "/containers/{id}/export"),
    ("POST", "/containers/{id}/update"),
    ("POST", "/containers/prune"),
    ("POST", "/commit?container={id}"),
    ("POST", "/images/create?fromImage=busybox"),
    ("POST", "/build"),
    ("GET", "/swarm"),
    ("POST", "/swarm/init"),
    ("GET", "/plugins"),
    ("POST", "/plugins/pull"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/images/get"),
    ("POST", "/volumes/create"),
    ("DELETE", "/volumes/x"),
    ("GET", "/containers/%2e%2e/json/../../exec"),
]


class Proxy:
    def __init__(self, level: str, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PROXY_BIND": f"127.0.0.1:{self.port}",
            "DOCKER_SOCKET": SOCKET,
        }
        self.log = tmp / f"haproxy-{level}.log"
        argv = ["haproxy", "-db", "-f", str(CONFIG_DIR / "common.cfg")]
        argv += ["-f", str(CONFIG_DIR / f"{level}.cfg")]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        wait_until(self._answers, timeout=20, message=f"haproxy {level}: {self.tail()}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited {self.proc.returncode}: {self.tail()}")
        try:
            return self.http.get("/_ping").status_code == 200
        except httpx.TransportError:
            return False

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def status(self, method: str, path: str, body: object = None) -> int:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if content is not None else {}
        return self.http.request(method, path, content=content, headers=headers).status_code

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Proxy]]:
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (scripts/provision.sh installs it)")
    tmp = tmp_path_factory.mktemp("proxy")
    started: dict[str, Proxy] = {}
    try:
        for level in ("readonly",):
            started[level] = Proxy(level, tmp)
        yield started
    finally:
        for p in started.values():
            p.close()


@pytest.fixture
def target(docker_client: docker.DockerClient, test_image: str) -> Iterator[str]:
    """A running container to aim calls at (created through the real socket)."""
    c = docker_client.containers.run(
        test_image,
        ["sh", "-c", "sleep 600"],
        name=f"proxy-target-{uuid.uuid4().hex[:8]}",
        network_mode="none",
        detach=True,
        init=True,
    )
    try:
        yield c.id
    finally:
        c.remove(force=True)


def _create_body(image: str, **host_config: object) -> dict[str, object]:
    return {
        "Image": image,
        "Cmd": ["sh", "-c", "sleep 600"],
        "HostConfig": {"NetworkMode": "none", "Init": True, **host_config},
    }


def test_the_readonly_level_reads_and_nothing_else(
    proxies: dict[str, Proxy], target: str, test_image: str
) -> None:
    ro = proxies["readonly"]
    for path in ("/_ping", "/version", "/v1.41/info", "/containers/json?all=1", "/images/json"):
        assert ro.status("GET", path) == 200, path
    assert ro.status("GET", f"/containers/{target}/json") == 200
    assert ro.status("GET", f"/v1.41/images/{test_image}/json") == 200
    assert ro.status("GET", "/events?since=0&until=1") == 200
    assert ro.status("POST", "/containers/create", _create_body(test_image)) == 403
    for method, path in [
        ("POST", "/containers/{id}/start"),
        ("POST", "/containers/{id}/stop"),
        ("POST", "/containers/{id}/restart"),
        ("POST", "/containers/{id}/kill?signal=HUP"),
        ("POST", "/containers/{id}/rename?name=x"),
        ("DELETE", "/containers/{id}"),
        ("POST", "/build/prune"),
        ("POST", "/networks/x/connect"),
        *NEVER,
    ]:
        assert ro.status(method, path.format(id=target)) == 403, (method, path)
