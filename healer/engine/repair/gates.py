"""Checks a repair passes after it holds the lock and before it claims an attempt: each can
end the repair with a recorded reason, and none of them charges the restart budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from healer.adapters.store.history import Record
from healer.core.model import (
    OPERATOR_SOURCES,
    ContainerId,
    Outcome,
    RepairRequest,
    ServiceId,
    ServiceView,
)
from healer.core.repair.storm import StormPolicy, applies, assess
from healer.engine.context import Healer


@dataclass(frozen=True)
class Targets:
    ids: tuple[ContainerId, ...]
    foreign: tuple[ContainerId, ...]  # named by the request, not containers of the service


def targets(req: RepairRequest, view: ServiceView) -> Targets:
    """The request's containers that belong to the service (all of them when it names none).

    A task message is not trusted: an id from another service, or made up, is never acted on."""
    own = [c.id for c in view.containers]
    if not req.container_ids:
        return Targets(tuple(own), ())
    by_prefix = {cid: c for c in own for cid in (c, c[:12])}
    ids = tuple(dict.fromkeys(by_prefix[c] for c in req.container_ids if c in by_prefix))
    foreign = tuple(c for c in req.container_ids if c not in by_prefix)
    return Targets(ids, foreign)


def hand_stopped(
    h: Healer, req: RepairRequest, inspected: dict[ContainerId, dict[str, Any]]
) -> set[ContainerId]:
    """Containers an operator stopped by hand, to leave down under HEALER_RESPECT_MANUAL_STOP
    (the probe honours it too; this covers alerts such as ContainerDown)."""
    if not h.settings.respect_manual_stop or req.source in OPERATOR_SOURCES:
        return set()
    stopped = [
        cid for cid, info in inspected.items() if not (info.get("State") or {}).get("Running")
    ]
    return h.state.manual_stops(stopped)


def storm_policy(h: Healer) -> StormPolicy:
    s = h.settings
    return StormPolicy(s.storm_share, s.storm_min_services, s.storm_window, s.storm_interval)


def storm_brake(h: Healer, req: RepairRequest) -> str:
    """Why this repair must wait for the repair-storm brake, or "" when it may go on."""
    if not applies(req.condition, req.source):
        return ""
    policy = storm_policy(h)
    store = h.stores.storm
    unhealthy = store.observe_unhealthy(req.sid, h.clock(), policy.window)
    managed = store.managed()
    if managed is None:
        managed = len(h.engine.services())
    verdict = assess(policy, unhealthy, managed)
    if not verdict.braked:
        store.release()
        return ""
    why = verdict.explain(policy)
    if store.set_braked(why, policy.window):
        rec = Record(ServiceId("host"), Outcome.INFO, "unhealthy", reason="storm_brake", detail=why)
        h.history.record(rec)
    if store.take_trickle(policy.interval):
        return ""  # this one is the trickle
    return why
