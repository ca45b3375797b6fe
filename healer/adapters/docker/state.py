"""Docker's container payloads → `ContainerState`, once, at the adapter's edge. Pure.

From an inspect every field is read; from a list entry (a lock-free read the engine answers
while it holds a container for its healthcheck's exec) only what the entry carries, plus the
facts an earlier inspect fixed (`Fixed`), and the rest stays None (see ContainerState).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healer.core.boot.detect import engine_time
from healer.core.compose_labels import NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL
from healer.core.container_state import ContainerState, Healthcheck, HealthProbe
from healer.core.model import ContainerId, ContainerView
from healer.core.selection.selector import PLAIN_PROJECT


@dataclass(frozen=True)
class Fixed:
    """What an inspect says of a container that cannot change while the container exists
    (a recreated container has a new id): its Config, read again with a list entry."""

    stop_timeout: int | None  # Config.StopTimeout: compose's stop_grace_period
    hostname: str = ""
    healthcheck: Healthcheck | None = None
    image: str = ""


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seconds(value: Any) -> float:
    """Docker's nanoseconds; 0 (or absent) stays 0: its default."""
    return float(value) / 1e9 if isinstance(value, int | float) and value > 0 else 0.0


def _time(value: Any) -> float:
    """Docker's RFC 3339 time (or a list entry's unix seconds); 0.0 for never or nonsense."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return engine_time(value) if isinstance(value, str) else 0.0
    except ValueError:
        return 0.0


def healthcheck(config: Mapping[str, Any]) -> Healthcheck | None:
    """Config.Healthcheck; None without one, or when it is disabled (`NONE`)."""
    check = _dict(config.get("Healthcheck"))
    if not check or check.get("Test") in (None, [], ["NONE"]):
        return None
    return Healthcheck(
        interval=_seconds(check.get("Interval")),
        timeout=_seconds(check.get("Timeout")),
        start_period=_seconds(check.get("StartPeriod")),
        retries=_int(check.get("Retries")) or 0,
    )


def fixed_of(info: Mapping[str, Any]) -> Fixed:
    config = _dict(info.get("Config"))
    return Fixed(
        stop_timeout=_int(config.get("StopTimeout")),
        hostname=str(config.get("Hostname") or ""),
        healthcheck=healthcheck(config),
        image=str(config.get("Image") or ""),
    )


def _probe(entry: Any) -> HealthProbe | None:
    if not isinstance(entry, Mapping):
        return None
    code = _int(entry.get("ExitCode"))
    return HealthProbe(
        exit_code=-1 if code is None else code,
        output=str(entry.get("Output") or ""),
        start=_time(entry.get("Start")),
        end=_time(entry.get("End")),
    )


def _health(state: Mapping[str, Any]) -> tuple[str | None, tuple[HealthProbe, ...]]:
    health = _dict(state.get("Health"))
    log = health.get("Log") if isinstance(health.get("Log"), list) else []
    probes = tuple(p for p in (_probe(e) for e in log or []) if p is not None)
    status = health.get("Status")
    return (str(status) if status else None), probes


def _number(labels: Mapping[str, str]) -> int:
    try:
        return int(labels.get(NUMBER_LABEL, "1"))
    except ValueError:
        return 1


def fixed_host_ports(host: Mapping[str, Any]) -> tuple[str, ...]:
    """Published ports bound to one fixed host port: a second container could not bind them."""
    fixed = []
    for port, hosts in _dict(host.get("PortBindings")).items():
        for binding in hosts or []:
            hp = str(_dict(binding).get("HostPort") or "")
            if hp and "-" not in hp:  # a range lets the engine pick a free port per replica
                fixed.append(f"{hp}->{port}")
    return tuple(sorted(fixed))


def _static_ips(info: Mapping[str, Any]) -> tuple[str, ...]:
    nets = _dict(_dict(info.get("NetworkSettings")).get("Networks"))
    return tuple(
        sorted(n for n, ep in nets.items() if _dict(_dict(ep).get("IPAMConfig")).get("IPv4Address"))
    )


def state_from_inspect(info: Mapping[str, Any]) -> ContainerState:
    """Every field, from GET /containers/{id}/json."""
    state, config, host = (_dict(info.get(k)) for k in ("State", "Config", "HostConfig"))
    labels = {str(k): str(v) for k, v in _dict(config.get("Labels")).items()}
    health, log = _health(state)
    fixed = fixed_of(info)
    name = str(info.get("Name") or "?").lstrip("/")
    # A container started without compose is the one container of service `-/<name>`.
    compose = PROJECT_LABEL in labels
    return ContainerState(
        id=ContainerId(str(info.get("Id") or "")),
        name=name,
        project=labels[PROJECT_LABEL] if compose else PLAIN_PROJECT,
        service=labels.get(SERVICE_LABEL, "") if compose else name,
        number=_number(labels),
        status=str(state.get("Status") or ""),
        running=bool(state.get("Running")),
        restarting=bool(state.get("Restarting")),
        exit_code=_int(state.get("ExitCode")),
        health=health,
        labels=labels,
        image=fixed.image,
        stop_timeout=fixed.stop_timeout,
        hostname=fixed.hostname,
        healthcheck=fixed.healthcheck,
        network_mode=str(host.get("NetworkMode") or "default"),
        created=_time(info.get("Created")),
        oom_killed=bool(state.get("OOMKilled")),
        health_log=log,
        started_at=_time(state.get("StartedAt")),
        finished_at=_time(state.get("FinishedAt")),
        restart_count=_int(info.get("RestartCount")) or 0,
        restart_policy=str(_dict(host.get("RestartPolicy")).get("Name") or "no"),
        fixed_host_ports=fixed_host_ports(host),
        static_ip_networks=_static_ips(info),
    )


def state_from_list(view: ContainerView, fixed: Fixed) -> ContainerState:
    """A running container from its list entry and its fixed facts; what only an inspect
    says stays None (a recreate, which needs all of it, inspects)."""
    return ContainerState(
        id=view.id,
        name=view.name,
        project=view.project,
        service=view.service,
        number=view.number,
        status=view.state,
        running=view.state == "running",
        restarting=view.state == "restarting",
        exit_code=view.exit_code,
        health=view.health,
        labels=dict(view.labels),
        image=fixed.image,
        stop_timeout=fixed.stop_timeout,
        hostname=fixed.hostname,
        healthcheck=fixed.healthcheck,
        network_mode=view.network_mode or "default",
        created=view.created,
    )
