"""A hung engine: the Docker socket accepts and never answers. Every call fails within
HEALER_DOCKER_TIMEOUT (the threads pool has no task time limit to end it otherwise)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from healer.adapters.docker.engine import DockerEngine, EngineError
from healer.core.model import ContainerId, ServiceId


@pytest.fixture
def hung_socket(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # read nothing, answer nothing
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"unix://{path}"
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_connecting_fails_within_the_docker_timeout(hung_socket: str) -> None:
    # The client connects on first use (a process started while the engine is away still
    # comes up); that first use fails within the timeout.
    engine = DockerEngine.connect(hung_socket, timeout=1)
    started = time.monotonic()
    with pytest.raises(EngineError):
        engine.services(ServiceId("p/s"))
    assert time.monotonic() - started < 5


def test_every_call_fails_within_the_docker_timeout(hung_socket: str) -> None:
    # A fixed API version skips the version request, as a client made before the hang.
    engine = DockerEngine(docker.DockerClient(base_url=hung_socket, version="1.41", timeout=1))
    for call in (
        lambda: engine.services(ServiceId("p/s")),
        lambda: engine.inspect(ContainerId("c" * 64)),
    ):
        started = time.monotonic()
        with pytest.raises(EngineError):
            call()
        assert time.monotonic() - started < 5
