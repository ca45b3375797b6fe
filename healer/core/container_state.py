"""A container as the engine reported it, typed: what the repair, its rolling waves, a
recreate's order, boot recovery and the scaler's drain read of it. Built once at the Docker
adapter's boundary (healer/adapters/docker/state.py) from an inspect, or from a list entry
plus the facts an earlier inspect fixed; nothing above it reads a Docker payload.

A list entry says less than an inspect. What it cannot say is None here, never guessed:
`oom_killed`, `health_log`, `started_at`, `finished_at`, `restart_count`,
`restart_policy`, `fixed_host_ports` and `static_ip_networks`, and a running container's
`exit_code`. The Config facts it lacks (stop grace, hostname, healthcheck, image) cannot
change while the container exists: they come from the last inspect of it (`Fixed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from healer.core.model import ContainerId


@dataclass(frozen=True, slots=True)
class HealthProbe:
    """One run of a healthcheck (Docker keeps the last five), times in unix seconds."""

    exit_code: int
    output: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """The container's healthcheck (Config.Healthcheck) in seconds; 0 means Docker's default."""

    interval: float = 0.0
    timeout: float = 0.0
    start_period: float = 0.0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class ContainerState:
    id: ContainerId
    name: str  # without Docker's leading slash
    project: str  # compose's project and service labels ("" when absent)
    service: str
    number: int
    status: str  # running, exited, dead, restarting, paused, created, ...
    running: bool
    restarting: bool
    exit_code: int | None  # None: not known (a running container's list entry says none)
    health: str | None  # healthy, unhealthy, starting; None: no healthcheck
    labels: Mapping[str, str] = field(default_factory=dict)
    image: str = ""  # the image as the service names it (Config.Image)
    stop_timeout: int | None = None  # compose's stop_grace_period; None: the engine's default
    hostname: str = ""
    healthcheck: Healthcheck | None = None
    network_mode: str = "default"
    created: float = 0.0  # engine unix time
    # Only an inspect says these (None from a list entry):
    oom_killed: bool | None = None
    health_log: tuple[HealthProbe, ...] | None = None
    started_at: float | None = None  # engine unix time, 0.0 for never
    finished_at: float | None = None
    restart_count: int | None = None
    restart_policy: str | None = None  # HostConfig.RestartPolicy.Name ("no" when none)
    fixed_host_ports: tuple[str, ...] | None = None  # "8080->80/tcp": one host port, fixed
    static_ip_networks: tuple[str, ...] | None = None  # networks with a compose ipv4_address

    @property
    def stopped(self) -> bool:
        return self.status in ("exited", "dead")

    @property
    def up(self) -> bool:
        """Running and not in a restart loop (what a verify after an action waits for)."""
        return self.running and not self.restarting

    @property
    def restarts_climbing(self) -> bool:
        """The engine restarts it by its restart policy, and has already (a crash loop)."""
        return self.restart_policy not in (None, "", "no") and (self.restart_count or 0) > 0

    @property
    def available(self) -> bool:
        """Serving: running and healthy (running is enough without a healthcheck)."""
        return self.running and self.health in (None, "healthy")

    def failing_outputs(self) -> list[str]:
        """The outputs of the checks failing now (after the last success): a check that
        timed out before the last success says nothing of this failure."""
        failing: list[str] = []
        for probe in self.health_log or ():
            failing = [] if probe.exit_code == 0 else [*failing, probe.output]
        return failing
