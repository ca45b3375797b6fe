"""Docker events → what they mean to the healer. Pure translation, tested without an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healer.core.compose_labels import PROJECT_LABEL, SERVICE_LABEL
from healer.core.model import ContainerId, ServiceId, service_id
from healer.core.selection.selector import PLAIN_PROJECT

# Events after which the service's state may need a repair (or has just recovered).
PROBE_ACTIONS = frozenset({"die", "oom", "stop", "start", "restart", "destroy", "kill"})
HEALTH_PREFIX = "health_status"
# The container actions a probe follows at once (with every health transition): all of them
# but `kill`, which comes before its `die`, and `restart`, which comes after its `start`.
PROBE_NOW = PROBE_ACTIONS - {"kill", "restart"}
# What the watcher asks the engine for: the engine matches `health_status` against every
# `health_status: …` action, so nothing parse_event keeps is filtered out.
WATCHED_ACTIONS = PROBE_ACTIONS | {HEALTH_PREFIX}


@dataclass(frozen=True)
class ContainerEvent:
    action: str
    sid: ServiceId
    container_id: ContainerId
    time: float  # seconds, from timeNano
    signal: str | None = None
    exit_code: int | None = None
    name: str = ""
    # The actor's attributes: the container's labels (and name, image, exitCode...), for the
    # selector to decide whether the container is managed.
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def project(self) -> str:
        return self.sid.split("/", 1)[0]

    @property
    def triggers_probe(self) -> bool:
        # A turn for the worse needs a repair. A turn for the better (`start`, `healthy`) or
        # a removal (`destroy`) must reach the state that /status and the metrics report, and
        # free the dependents held back, within a second, not at the next reconcile: a
        # ContainerUnhealthy or ContainerDown alert (`for: 1m`) on a stale `starting` or
        # `exited` would restart a healthy container whenever WATCHDOG_INTERVAL is a minute
        # or more (or page for a service removed on purpose), and dependents would wait.
        return self.action.startswith(HEALTH_PREFIX) or self.action in PROBE_NOW

    @property
    def looks_like_hand_stop(self) -> bool:
        """`docker stop`/`compose stop` send the stop signal then emit `stop`; a crash or a
        `docker kill` (SIGKILL) does not."""
        if self.action == "stop":
            return True
        return self.action == "kill" and self.signal not in (None, "9", "SIGKILL")


def parse_event(raw: dict[str, Any]) -> ContainerEvent | None:
    if raw.get("Type") != "container":
        return None
    action = str(raw.get("Action") or raw.get("status") or "")
    actor = raw.get("Actor") or {}
    attrs: dict[str, str] = actor.get("Attributes") or {}
    project, service = attrs.get(PROJECT_LABEL), attrs.get(SERVICE_LABEL)
    if PROJECT_LABEL not in attrs:  # a plain container: the service `-/<name>`
        project, service = PLAIN_PROJECT, attrs.get("name")
    if not project or not service:
        return None
    if action not in PROBE_ACTIONS and not action.startswith(HEALTH_PREFIX):
        return None
    time_ns = raw.get("timeNano")
    t = int(time_ns) / 1e9 if time_ns else float(raw.get("time", 0))
    code = attrs.get("exitCode")
    return ContainerEvent(
        action=action,
        sid=service_id(project, service),
        container_id=ContainerId(str(actor.get("ID") or raw.get("id") or "")),
        time=t,
        signal=attrs.get("signal"),
        exit_code=int(code) if code is not None and code.lstrip("-").isdigit() else None,
        name=attrs.get("name", ""),
        labels=dict(attrs),
    )
