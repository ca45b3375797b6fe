"""Fixtures of the fault and soak suite: a private redis-server (to kill -9), a private
Docker engine (to restart), and healer stacks aimed at them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from tests.support import ComposeProject, free_port, unique_project_name
from tests.support.healer import ROOT, HealerStack
from tests.support.redis_server import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


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
        stack.env["HEALER_API_PORT"] = str(free_port())
        stacks.append(stack)
        return stack

    yield make
    for s in stacks:
        s.discard()


class HealerRun:
    """`healer run`: every role under the product's own supervisor, which restarts a role
    that dies (as compose's `restart: unless-stopped` does in the compose deployment)."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 2) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "healer", "run", "--workers", str(workers)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def healer_run(tmp_path: Path) -> Iterator[Callable[..., HealerRun]]:
    runs: list[HealerRun] = []

    def make(env: dict[str, str], workers: int = 2) -> HealerRun:
        run = HealerRun(env, tmp_path / f"healer-run-{len(runs)}.out", workers)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.stop()


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
