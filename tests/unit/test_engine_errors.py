"""Every way a Docker call can fail ends as an EngineError, a hung engine's read timeout
included: the repair records it instead of the task dying without an outcome."""

from __future__ import annotations

from collections.abc import Callable

import docker.errors
import pytest
import requests

from healer.adapters.docker.engine import ContainerGone, EngineError, call_engine


def _raise(exc: BaseException) -> Callable[[], None]:
    def call() -> None:
        raise exc

    return call


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("connection refused"),
        ConnectionResetError("reset by peer"),
        docker.errors.DockerException("engine unreachable"),
    ],
)
def test_transport_failures_become_engine_errors(exc: BaseException) -> None:
    with pytest.raises(EngineError) as caught:
        call_engine(_raise(exc))
    assert not isinstance(caught.value, ContainerGone)
    assert str(exc) in str(caught.value)


def test_a_missing_container_stays_distinguishable() -> None:
    response = requests.Response()
    response.status_code = 404
    with pytest.raises(ContainerGone):
        call_engine(_raise(docker.errors.NotFound("gone", response=response)))
