"""Fixtures of the fault and soak suite: a private redis-server (to kill -9), a private
Docker engine (to restart), and healer stacks aimed at them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from tests.support import ComposeProject, unique_project_name
from tests.support.healer import HealerStack
from tests.support.private_engine import PrivateEngine
from tests.support.redis_server import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def private_engine(test_image: str) -> Iterator[PrivateEngine]:
    engine = PrivateEngine()
    try:
        engine.start()
        engine.load_image(test_image)
        yield engine
    finally:
        problems = engine.close()
        if problems:
            print("private engine clean-up:", problems)


StackFactory = Callable[..., HealerStack]


@pytest.fixture
def chaos_stack(tmp_path: Path) -> Iterator[StackFactory]:
    """`chaos_stack(redis_url, project, **env)`: healer roles on any Redis and engine."""
    stacks: list[HealerStack] = []

    def make(redis_url: str, project: str, **overrides: str) -> HealerStack:
        log_dir = tmp_path / f"healer-logs-{len(stacks)}"
        log_dir.mkdir()
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "HEALER_PROJECTS": project,
            "WATCHDOG_INTERVAL": "2",
            "RESTART_COOLDOWN": "30",
            "HEALER_API_TOKEN": "chaos-token-0123456789",
            "HEALER_LOG_DIR": str(log_dir),
            "HEALER_VERIFY_TIMEOUT": "10",
            "PYTHONUNBUFFERED": "1",
        }
        env.update({k: str(v) for k, v in overrides.items()})
        stack = HealerStack(env=env, log_dir=log_dir)
        stacks.append(stack)
        return stack

    yield make
    for s in stacks:
        s.stop_all()


def project_on(
    engine_url: str, client: docker.DockerClient, folder: Path, yaml_text: str, name: str
) -> ComposeProject:
    """A compose project on another engine (compose reads DOCKER_HOST from its env)."""
    project_name = unique_project_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "compose.yaml"
    file.write_text(yaml_text)
    return ComposeProject(
        name=project_name, dir=folder, file=file, client=client, env={"DOCKER_HOST": engine_url}
    )
