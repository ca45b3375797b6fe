"""Scale a compose service through the Docker API, the way `docker compose up --scale` does.

Up: clone the lowest-numbered container (see core.scale_replica_spec) as `<project>-<service>-<n>`,
start, wait for running/healthy. Down: the highest-numbered replicas go first, each drained
through a caller-supplied gate (a Celery worker stops consuming and finishes its tasks), then
stopped with its own stop timeout and removed without its volumes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from healer.adapters.docker.container_spec import create_body, scale_blockers
from healer.adapters.docker.engine import (
    ContainerGone,
    DockerEngine,
    EngineError,
    call_engine,
)
from healer.core.compose_labels import compose_name, name_separator
from healer.core.container_state import ContainerState
from healer.core.model import ContainerId, ContainerView, ServiceView, split_service_id

log = logging.getLogger("healer.replicas")

DrainGate = Callable[[Mapping[ContainerId, ContainerState]], Mapping[ContainerId, str]]
"""Given the states of the replicas about to go, drain them and say how it went
(one note per container). Returns only when they may be stopped."""

StopHook = Callable[[ContainerId], None]
"""Called right before a replica is stopped (marks the stop as the healer's own)."""

_PARALLEL = 8  # engine calls in flight at once; the engine serialises most of them anyway


class ScaleBlocked(EngineError):
    """The service cannot be scaled as it is configured; the message says what to change."""


@dataclass(frozen=True)
class ReplicaChange:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    # Scaled to zero: the last replica is stopped, not removed (the template to wake from).
    stopped: tuple[str, ...] = ()
    started: tuple[str, ...] = ()  # woken from zero: the stopped template started again

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def delta(self) -> int:
        """Replicas gained (negative: lost) by this change."""
        return len(self.added) + len(self.started) - len(self.removed) - len(self.stopped)

    def describe(self) -> str:
        parts = []
        if self.started:
            parts.append("started " + ", ".join(self.started) + " (woken from zero)")
        if self.added:
            parts.append("added " + ", ".join(self.added))
        if self.removed:
            parts.append("removed " + ", ".join(self.removed))
        if self.stopped:
            parts.append("stopped " + ", ".join(self.stopped) + " (kept as the template)")
        return "; ".join(parts + list(self.notes) + list(self.errors))


_call = call_engine  # the engine adapter's error translation, shared


def _ready(c: ContainerState) -> bool:
    return c.up and c.available


class Replicas:
    def __init__(self, engine: DockerEngine, start_timeout: float = 60.0) -> None:
        self.engine = engine
        self.api = engine.client.api
        self.start_timeout = start_timeout

    # --- up -------------------------------------------------------------------------------

    def add(self, view: ServiceView, count: int) -> ReplicaChange:
        """Create and start `count` replicas; wait (bounded) until they run, healthy if they
        have a healthcheck."""
        template = self._template(view)
        project, service = split_service_id(view.sid)
        blockers = scale_blockers(template, project, service)
        if blockers:
            raise ScaleBlocked("; ".join(blockers))
        image, notes = self._image(template)
        start = max((c.number for c in view.containers), default=0) + 1
        created: list[tuple[str, ContainerId]] = []
        errors: list[str] = []
        for number in range(start, start + count):
            try:
                created.append(self._create(template, project, service, number, image))
            except EngineError as exc:
                errors.append(f"replica {number}: {exc}")
                break  # the next ones would fail the same way
        errors += self._wait_ready(created)
        return ReplicaChange(tuple(n for n, _ in created), (), tuple(errors), tuple(notes))

    def start_stopped(self, c: ContainerView) -> ReplicaChange:
        """Start a replica kept stopped at zero; wait (bounded) until it runs."""
        try:
            self.engine.start(c.id)
        except EngineError as exc:
            return ReplicaChange(errors=(f"{c.name}: {exc}",))
        errors = self._wait_ready([(c.name, c.id)])
        return ReplicaChange(started=(c.name,), errors=tuple(errors))

    def _template(self, view: ServiceView) -> dict[str, Any]:
        """Container #1 if present, else the lowest-numbered one: compose's own reference."""
        if not view.containers:
            raise ScaleBlocked(f"{view.sid} has no container to clone replicas from")
        first = min(view.containers, key=lambda c: c.number)
        return dict(_call(lambda: self.api.inspect_container(first.id)))

    def _image(self, template: dict[str, Any]) -> tuple[str, list[str]]:
        """The template's image by name when the name still means the same image; else by id,
        so every replica runs what #1 runs (a re-tag is a redeploy, not a scale)."""
        name = str((template.get("Config") or {}).get("Image") or "")
        image_id = str(template.get("Image") or name)
        try:
            current = _call(lambda: self.api.inspect_image(name))["Id"] if name else None
        except EngineError:
            current = None
        if current == image_id:
            return name, []
        return image_id, [f"image {name!r} now points elsewhere; replicas use {image_id[:19]}"]

    def _create(
        self, template: dict[str, Any], project: str, service: str, number: int, image: str
    ) -> tuple[str, ContainerId]:
        sep = name_separator(str(template.get("Name", "")), project, service) or "-"
        name = compose_name(project, service, number, sep)
        body, more_networks = create_body(template, number, name, service, image)
        cid = create_container(self.api, body, name, more_networks)
        try:
            _call(lambda: self.api.start(cid))
        except EngineError:
            # A replica that never started would count as capacity; do not leave it behind.
            discard(self.api, cid)
            raise
        return name, cid

    def _wait_ready(self, created: Sequence[tuple[str, ContainerId]]) -> list[str]:
        deadline = time.monotonic() + self.start_timeout
        pending = dict(created)
        while pending:
            for name, cid in list(pending.items()):
                try:
                    if _ready(self.engine.inspect(cid)):
                        del pending[name]
                except ContainerGone:
                    return [f"{name} disappeared while starting"]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        return [f"{n} not running/healthy after {self.start_timeout:g}s" for n in pending]

    # --- down -----------------------------------------------------------------------------

    def remove(
        self,
        view: ServiceView,
        count: int,
        *,
        drain: DrainGate | None = None,
        before_stop: StopHook | None = None,
        keep_hosts: Iterable[str] = (),
    ) -> ReplicaChange:
        """Remove the `count` highest-numbered replicas (never the last one, never one whose
        hostname is in `keep_hosts` — the worker running this very task)."""
        victims = self._victims(view, count, frozenset(keep_hosts))
        notes = self._drain(victims, drain)
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, max(1, len(victims)))) as pool:
            results = list(pool.map(lambda v: self._retire(v, before_stop), victims.values()))
        removed = tuple(name for name, err in results if not err)
        errors = tuple(err for _, err in results if err)
        return ReplicaChange((), removed, errors, tuple(notes))

    def _victims(
        self, view: ServiceView, count: int, keep_hosts: frozenset[str]
    ) -> dict[ContainerId, ContainerState]:
        ordered = sorted(view.containers, key=lambda c: c.number, reverse=True)
        out: dict[ContainerId, ContainerState] = {}
        for c in ordered[: max(0, len(ordered) - 1)]:  # the lowest one is the template
            if len(out) >= count:
                break
            info = self._inspect(c)
            if info is not None and info.hostname not in keep_hosts:
                out[c.id] = info
        return out

    def _inspect(self, c: ContainerView) -> ContainerState | None:
        try:
            return self.engine.inspect(c.id)
        except ContainerGone:
            return None

    def _drain(
        self, victims: Mapping[ContainerId, ContainerState], drain: DrainGate | None
    ) -> list[str]:
        if drain is None or not victims:
            return []
        try:
            outcome = drain(victims)
        except Exception as exc:  # a broken drain must not strand half-drained workers
            return [f"drain failed ({exc}); stopping with the stop timeout only"]
        return [f"{victims[cid].name}: {note}" for cid, note in outcome.items() if note]

    def _retire(self, info: ContainerState, before_stop: StopHook | None) -> tuple[str, str]:
        cid, name, timeout = info.id, info.name, info.stop_timeout
        try:
            if before_stop is not None:
                before_stop(cid)
            # The stop timeout is the container's own grace period (compose stop_grace_period).
            self.engine.stop(cid, timeout if timeout is not None else 10)
            self._remove(cid)
        except ContainerGone:
            return name, ""
        except EngineError as exc:
            return name, f"{name}: {exc}"
        return name, ""

    def _remove(self, cid: ContainerId) -> None:
        remove_container(self.api, cid)


# --- the engine side of replica_spec, shared with recreate ------------------------------


def create_container(
    api: Any, body: dict[str, Any], name: str, more_networks: Mapping[str, dict[str, Any]]
) -> ContainerId:
    """Create from a replica_spec body and connect its other networks (not started). Nothing
    is left behind when a step fails."""
    cid = ContainerId(_call(lambda: api.create_container_from_config(body, name))["Id"])
    try:
        for net, ep in more_networks.items():
            _connect(api, cid, net, ep)
    except EngineError:
        discard(api, cid)
        raise
    return cid


def _connect(api: Any, cid: ContainerId, net: str, ep: dict[str, Any]) -> None:
    ipam = ep.get("IPAMConfig") or {}
    _call(
        lambda: api.connect_container_to_network(
            cid,
            net,
            aliases=ep.get("Aliases"),
            links=ep.get("Links"),
            driver_opt=ep.get("DriverOpts"),
            ipv4_address=ipam.get("IPv4Address") or None,
            ipv6_address=ipam.get("IPv6Address") or None,
        )
    )


def remove_container(api: Any, cid: ContainerId) -> None:
    # v=False: never volumes. force: a restart policy or a repair may have started it again.
    _call(lambda: api.remove_container(cid, v=False, force=True))


def discard(api: Any, cid: ContainerId) -> None:
    """Remove a container that never served; a failure here is only logged."""
    try:
        remove_container(api, cid)
    except EngineError as exc:
        log.warning("could not remove container %s that failed to start: %s", cid[:12], exc)
