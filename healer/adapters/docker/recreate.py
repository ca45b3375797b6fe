"""Recreate a container the way `docker compose up --force-recreate` does, through the API.

The create body comes from the same translation as a new replica's (scale_replica_spec), so a
recreated container and a scaled-up replica can never disagree on what "the service's
config" is. Compose's order is kept: create under a temporary name while the old container
still serves, stop and remove the old one (never its volumes), rename, start. Containers
that share the old container's network namespace (`network_mode: service:X` is stored as
`container:<id>`) would be left in a namespace nothing owns any more: they are recreated
against the new id and started, which is what re-attaches them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from healer.adapters.docker.container_spec import namespace_sharer, recreate_body
from healer.adapters.docker.engine import DockerEngine, EngineError, call_engine
from healer.adapters.docker.replicas import create_container, discard, remove_container
from healer.adapters.docker.state import state_from_inspect
from healer.core.container_state import ContainerState
from healer.core.model import ContainerId

log = logging.getLogger("healer.recreate")

StopHook = Callable[[ContainerId], None]
"""Called before a container is stopped (marks the stop as the healer's own)."""
Ready = Callable[[ContainerId], bool]
"""Start-first: True once the new container serves (healthy, or running without a check)."""


class NotReady(Exception):
    """A start-first recreate's new container never became available: it was removed and the
    old one left serving."""


_MAX_DEPTH = 3  # a sharer of a sharer is possible; a deeper chain is a configuration error


@dataclass(frozen=True)
class Recreated:
    new_id: ContainerId
    name: str
    notes: tuple[str, ...] = field(default=())
    errors: tuple[str, ...] = field(default=())  # sharers that could not be re-attached


@dataclass(frozen=True)
class Original:
    """A container about to be recreated, inspected whole: its typed state for the engine
    to decide by, and the payload a clone copies, kept here in the adapter."""

    state: ContainerState
    _payload: dict[str, Any] = field(repr=False)


def _name(info: dict[str, Any]) -> str:
    return str(info.get("Name", "?")).lstrip("/")


class Recreator:
    def __init__(self, engine: DockerEngine, before_stop: StopHook | None = None) -> None:
        self.engine = engine
        self.api = engine.client.api
        self.before_stop = before_stop

    def read(self, cid: ContainerId) -> Original:
        """The container as it is now, whole (a repair's own read may have been a list call)."""
        payload = self.engine.inspect_raw(cid)
        return Original(state_from_inspect(payload), payload)

    def recreate(
        self,
        original: Original,
        stop_timeout: int,
        network_mode: str | None = None,
        ready: Ready | None = None,
    ) -> Recreated:
        """With `ready`, start-first: the new container is started and must be ready before
        the old one is stopped (the caller checked start-first is possible)."""
        info = original._payload
        if ready is not None:
            return self._start_first(info, stop_timeout, ready)
        return self._recreate(info, stop_timeout, network_mode, 0)

    def _start_first(self, info: dict[str, Any], stop_timeout: int, ready: Ready) -> Recreated:
        old_id, name = ContainerId(str(info["Id"])), _name(info)
        sharers = self._sharers(old_id, name)
        body, networks = recreate_body(info, self._image(info))
        new_id = create_container(self.api, body, f"{old_id[:12]}_{name}", networks)
        try:
            call_engine(lambda: self.api.start(new_id))
            if not ready(new_id):
                raise NotReady(
                    f"start-first: the new container of {name} did not become healthy; "
                    "removed it, the old one still serves"
                )
            self._retire(old_id, stop_timeout)
        except (EngineError, NotReady):
            discard(self.api, new_id)
            raise
        call_engine(lambda: self.api.rename(new_id, name))
        notes = [f"{name} recreated start-first ({old_id[:12]} -> {new_id[:12]})"]
        return self._with_sharers(Recreated(new_id, name, tuple(notes)), sharers, 0)

    def _recreate(
        self, info: dict[str, Any], stop_timeout: int, network_mode: str | None, depth: int
    ) -> Recreated:
        old_id, name = ContainerId(str(info["Id"])), _name(info)
        sharers = self._sharers(old_id, name) if depth < _MAX_DEPTH else []
        body, networks = recreate_body(info, self._image(info), network_mode)
        # Compose's temporary name: the old container keeps its name until it is gone.
        new_id = create_container(self.api, body, f"{old_id[:12]}_{name}", networks)
        try:
            self._retire(old_id, stop_timeout)
        except EngineError:
            discard(self.api, new_id)
            raise
        call_engine(lambda: self.api.rename(new_id, name))
        call_engine(lambda: self.api.start(new_id))
        notes = [f"{name} recreated ({old_id[:12]} -> {new_id[:12]})"]
        return self._with_sharers(Recreated(new_id, name, tuple(notes)), sharers, depth)

    def _with_sharers(
        self, done: Recreated, sharers: list[dict[str, Any]], depth: int
    ) -> Recreated:
        notes, errors = list(done.notes), list(done.errors)
        for sharer in sharers:
            again = self._reattach(sharer, done.new_id, depth)
            notes += again.notes
            errors += again.errors
        return Recreated(done.new_id, done.name, tuple(notes), tuple(errors))

    def _image(self, info: dict[str, Any]) -> str:
        """The image by the name the service asks for, as compose recreates it (a re-tagged
        image is picked up); the old image id when that name no longer resolves."""
        name = str((info.get("Config") or {}).get("Image") or "")
        try:
            if name:
                call_engine(lambda: self.api.inspect_image(name))
                return name
        except EngineError:
            pass
        return str(info.get("Image") or name)

    def _sharers(self, owner_id: ContainerId, owner_name: str) -> list[dict[str, Any]]:
        """Every container, of any project, that lives in the owner's network namespace."""
        entries = call_engine(lambda: self.api.containers(all=True))
        out = []
        for entry in entries:
            mode = str((entry.get("HostConfig") or {}).get("NetworkMode") or "")
            if mode.startswith("container:") and entry.get("Id") != owner_id:
                info = self.engine.inspect_raw(ContainerId(str(entry["Id"])))
                if namespace_sharer(info, owner_id, owner_name):
                    out.append(info)
        return out

    def _retire(self, cid: ContainerId, stop_timeout: int) -> None:
        if self.before_stop is not None:
            self.before_stop(cid)
        self.engine.stop(cid, stop_timeout)
        remove_container(self.api, cid)

    def _reattach(self, sharer: dict[str, Any], owner: ContainerId, depth: int) -> Recreated:
        timeout = (sharer.get("Config") or {}).get("StopTimeout")
        grace = int(timeout) if timeout is not None else 10
        try:
            done = self._recreate(sharer, grace, f"container:{owner}", depth + 1)
        except EngineError as exc:
            # The owner is repaired either way; name the sharer that still needs a hand.
            error = f"{_name(sharer)} not re-attached to the new network namespace: {exc}"
            return Recreated(ContainerId(""), _name(sharer), (), (error,))
        note = f"{done.name} re-attached to the new network namespace"
        return Recreated(done.new_id, done.name, (note, *done.notes[1:]), done.errors)
