"""The vocabulary every layer shares: what was observed and what may be done about it.

Pure data only: no I/O, no Docker/Redis/Celery imports (an import-linter contract checks it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NewType

ServiceId = NewType("ServiceId", str)
"""`project/service`, the unit the guard, history and metrics are keyed by."""

ContainerId = NewType("ContainerId", str)

HostId = NewType("HostId", str)
"""The configured name of a Docker host (HEALER_HOST). Two engines may report the same
`Name`, so this name, not the engine's, is the identity guard state and queues are keyed by."""


def service_id(project: str, service: str) -> ServiceId:
    return ServiceId(f"{project}/{service}")


def split_service_id(sid: ServiceId) -> tuple[str, str]:
    project, _, service = sid.partition("/")
    return project, service


class Condition(enum.StrEnum):
    """Why the healer acts; each has its own cooldown, budget and episode."""

    UNHEALTHY = "unhealthy"
    EXITED = "exited"
    RESTARTING = "restarting"
    MEMORY = "memory"
    CPU = "cpu"
    NETWORK = "network"
    DISK = "disk"
    ALERT = "alert"
    MANUAL = "manual"
    DEPENDENCY = "dependency"  # a dependency came back: dependents re-attach to it


class Action(enum.StrEnum):
    """Everything the healer can be asked to do: container repairs, the host-wide disk
    cleanup, and one replica more or fewer (an alert's `scale_up` / `scale_down`)."""

    RESTART = "restart"
    START = "start"
    STOP_START = "stop_start"
    RECREATE = "recreate"
    CLEANUP = "cleanup"
    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"


# The built-in container repairs the guarded repair task carries out, in the order error
# messages list them; `signal:<NAME>` and plugin strategies come on top
# (healer.core.actions).
REPAIR_ACTIONS = (Action.RESTART, Action.START, Action.STOP_START, Action.RECREATE)


class Source(enum.StrEnum):
    """Who asked for a decision: the healer's own observation, or someone with intent."""

    PROBE = "probe"  # the reconcile loop (or a delayed re-probe)
    EVENT = "event"  # a Docker event
    SCALER = "scaler"  # the autoscaler cycle
    API = "api"
    CLI = "cli"
    ALERT = "alert"
    BOOT = "boot"  # the ordered recovery after an engine restart


# Sources that carry an operator's or an alert's intent: they act even when Docker thinks
# the service is fine, they wait for a busy lock instead of giving up, and they skip the
# disk cleanup's cooldown.
INTENT_SOURCES = frozenset({Source.API, Source.CLI, Source.ALERT})
# Only an operator's own request overrides `healer pause`; an alert does not.
OPERATOR_SOURCES = frozenset({Source.API, Source.CLI})


class Outcome(enum.StrEnum):
    """How a decision ended, as history records, request records and results say it."""

    ACTED = "acted"  # a repair or cleanup ran and worked
    FAILED = "failed"  # it ran and did not work
    SKIPPED = "skipped"  # not acted on, with a SkipReason (or a scale/disk reason)
    QUARANTINED = "quarantined"  # max attempts reached: left alone for inspection
    REQUESTED = "requested"  # an operator's or alert's request was queued
    IGNORED = "ignored"  # an alert not meant for the healer
    INFO = "info"  # worth knowing, nothing decided (a bad label)
    RESET = "reset"  # episodes ended (healthy long enough, or `healer reset`)
    PAUSED = "paused"
    RESUMED = "resumed"
    SCALED = "scaled"  # replicas changed
    HELD = "held"  # the autoscaler looked and kept the replica count
    OK = "ok"  # a disk check found nothing to do
    DRY_RUN = "dry_run"  # a cleanup that only listed what it would remove
    REFUSED = "refused"  # a scale request that cannot be carried out (ScaleError)
    BOOT = "boot"  # an ordered recovery after an engine restart ended, every service settled
    BOOT_TIMEOUT = "boot_timeout"  # during one, a dependency did not get ready in time
    INCOMPLETE = "incomplete"  # one gave up (its deadline, or the engine went away again)


class SkipReason(enum.StrEnum):
    COOLDOWN = "cooldown"
    BACKOFF = "backoff"
    QUARANTINED = "quarantined"
    OPTED_OUT = "opted_out"
    PAUSED = "paused"
    MANUAL_STOP = "manual_stop"
    RECOVERED = "recovered"
    IN_FLIGHT = "in_flight"
    NOT_FOUND = "not_found"
    WAITING_DEPENDENCY = "waiting_dependency"
    BOOT_RECOVERY = "boot_recovery"  # an ordered recovery after an engine restart owns it
    COMPLETED = "completed"  # a one-shot others wait for exited 0: done, not down
    STORM_BRAKE = "storm_brake"  # the repair-storm brake holds it, on evidence of overload
    INVALID_TARGET = "invalid_target"  # the request named containers of another service


class HealthStatus(enum.StrEnum):
    """One-hot status exported as `service_health_status{status=…}`."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    EXITED = "exited"
    RESTARTING = "restarting"
    QUARANTINED = "quarantined"
    PAUSED = "paused"
    OPTED_OUT = "opted_out"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ContainerView:
    """One container as the list call shows it (no per-container inspect)."""

    id: ContainerId
    name: str
    project: str
    service: str
    number: int
    state: str  # created|running|paused|restarting|removing|exited|dead
    health: str | None  # healthy|unhealthy|starting, None without a healthcheck
    exit_code: int | None
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    network_mode: str = ""  # HostConfig.NetworkMode: `service:`/`container:` shares a namespace
    created: float = 0.0  # the engine's creation time (epoch seconds); 0 when unknown

    @property
    def service_id(self) -> ServiceId:
        return service_id(self.project, self.service)


@dataclass(frozen=True)
class ServiceView:
    sid: ServiceId
    containers: tuple[ContainerView, ...]
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Finding:
    """A condition seen on some containers of a service; the input to the restart policy."""

    sid: ServiceId
    condition: Condition
    action: Action
    container_ids: tuple[ContainerId, ...]
    detail: str


@dataclass(frozen=True)
class RepairRequest:
    """What a repair task is asked to do; serialisable to Celery task kwargs."""

    sid: ServiceId
    condition: Condition
    action: str  # an Action, `signal:<NAME>` or a plugin's name (healer.core.actions)
    container_ids: tuple[ContainerId, ...] = ()
    detail: str = ""
    source: Source = Source.PROBE
    request_id: str = ""
    host: str = ""  # the Docker host to act on; "" = whichever host's worker runs the task

    def to_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "sid": str(self.sid),
            "condition": self.condition.value,
            "action": str(self.action),
            "container_ids": list(self.container_ids),
            "detail": self.detail,
            "source": str(self.source),
            "request_id": self.request_id,
        }
        # Only host-addressed requests carry the key, so a one-host install sends what it
        # always sent.
        if self.host:
            kwargs["host"] = self.host
        return kwargs

    @classmethod
    def from_kwargs(cls, kw: dict[str, object]) -> RepairRequest:
        ids = kw.get("container_ids") or []
        assert isinstance(ids, list | tuple)
        return cls(
            sid=ServiceId(str(kw["sid"])),
            condition=Condition(str(kw["condition"])),
            action=_action(str(kw["action"])),
            container_ids=tuple(ContainerId(str(i)) for i in ids),
            detail=str(kw.get("detail", "")),
            source=Source(str(kw.get("source", Source.PROBE))),
            request_id=str(kw.get("request_id", "")),
            host=str(kw.get("host", "") or ""),
        )


def _action(name: str) -> str:
    """A built-in as its Action member; other names (signal:…, plugins) are checked by the
    repair task, which knows the installed plugins."""
    return Action(name) if name in Action._value2member_map_ else name
