"""A repair's containers as they are now: read under the service lock, after any repair that
held it, and never trusted from the probe that asked for the repair."""

from __future__ import annotations

from healer.adapters.docker.engine import ContainerGone
from healer.adapters.docker.state import Fixed, state_from_list
from healer.core.container_state import ContainerState
from healer.core.model import Condition, ContainerId, RepairRequest
from healer.core.repair.conditions import still_failing
from healer.engine.context import Healer

Containers = dict[ContainerId, ContainerState]


def observe(h: Healer, req: RepairRequest, targets: tuple[ContainerId, ...]) -> Containers:
    """The targets as they are now (under the lock, after any repair that held it).

    Running containers whose fixed facts this process knows (the probe that asked for the
    repair inspected them moments ago) are read from a fresh list call: an inspect of a
    container that runs a healthcheck waits while the engine starts the check's exec, a
    second or more on an engine busy with a mass failure, and that wait lands on every
    repair of the burst. Anything else (stopped, paused, restarting, not known here, or a
    crash loop, which needs the engine's restart count) is inspected."""
    if req.condition != Condition.RESTARTING:
        listed = _listed(h, req, targets)
        if listed is not None:
            return listed
    return inspect_all(h, targets)


def _listed(h: Healer, req: RepairRequest, targets: tuple[ContainerId, ...]) -> Containers | None:
    """None when any target needs an inspect."""
    known: dict[ContainerId, Fixed] = {}
    for cid in targets:
        fixed = h.engine.fixed(cid)
        if fixed is None:
            return None
        known[cid] = fixed
    if not known:
        return None
    view = h.engine.services(req.sid).get(req.sid)
    now = {c.id: c for c in view.containers} if view is not None else {}
    out: Containers = {}
    for cid, fixed in known.items():
        c = now.get(cid)
        if c is None:
            continue  # gone since: as an inspect answering 404
        if c.state != "running":
            return None
        out[cid] = state_from_list(c, fixed)
    return out


def inspect_all(h: Healer, targets: tuple[ContainerId, ...]) -> Containers:
    out: Containers = {}
    for cid in targets:
        try:
            out[cid] = h.engine.inspect(cid)
        except ContainerGone:
            continue
    return out


def failing(condition: Condition, c: ContainerState) -> bool:
    return still_failing(
        condition, c.status, c.health, c.restarting, engine_restarts=c.restarts_climbing
    )
