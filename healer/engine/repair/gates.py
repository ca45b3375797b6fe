"""Checks a repair passes after it holds the lock and before it claims an attempt: each can
end the repair with a recorded reason, and none of them charges the restart budget."""

from __future__ import annotations

from dataclasses import dataclass

from healer.adapters.docker.engine import EngineError
from healer.adapters.store.history import Record
from healer.core.container_state import ContainerState
from healer.core.model import (
    OPERATOR_SOURCES,
    ContainerId,
    Outcome,
    RepairRequest,
    ServiceId,
    ServiceView,
    SkipReason,
)
from healer.core.overload.evidence import (
    Found,
    OverloadPolicy,
    Pressure,
    describe,
    from_checks,
    from_engine,
    from_pressure,
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
    h: Healer, req: RepairRequest, inspected: dict[ContainerId, ContainerState]
) -> set[ContainerId]:
    """Containers an operator stopped by hand, to leave down under HEALER_RESPECT_MANUAL_STOP
    (the probe honours it too; this covers alerts such as ContainerDown)."""
    if not h.settings.respect_manual_stop or req.source in OPERATOR_SOURCES:
        return set()
    stopped = [cid for cid, c in inspected.items() if not c.running]
    return h.state.manual_stops(stopped)


def storm_policy(h: Healer) -> StormPolicy:
    s = h.settings
    return StormPolicy(s.storm_share, s.storm_min_services, s.storm_window, s.storm_interval)


def overload_policy(h: Healer) -> OverloadPolicy:
    s = h.settings
    return OverloadPolicy(s.storm_cpu_pressure, s.storm_io_pressure, s.storm_slow_factor)


def storm_brake(
    h: Healer, req: RepairRequest, inspected: dict[ContainerId, ContainerState] | None = None
) -> str:
    """Why this repair must wait for the repair-storm brake, or "" when it may go on.

    The count of unhealthy services only says a storm may be under way; the brake engages
    on evidence of overload (healer.core.overload.evidence), so explicit failures on an
    unpressured host are repaired at full speed however many there are."""
    if not applies(req.condition, req.source):
        return ""
    policy = storm_policy(h)
    store = h.stores.storm
    unhealthy = store.observe_unhealthy(req.sid, h.clock(), policy.window)
    managed = store.managed()
    if managed is None:
        managed = len(h.engine.services())
    onset = store.onset_pressure(unhealthy == 1, h.pressure, policy.window)
    verdict = assess(policy, unhealthy, managed)
    found = overload(h, req, inspected or {}, onset) if verdict.braked else []
    if not found:
        store.release()
        return ""
    why = f"{verdict.explain(policy)}; evidence of overload: {describe(found)}"
    if store.set_braked(why, policy.window, [str(f.kind) for f in found]):
        rec = Record(
            ServiceId("host"), Outcome.INFO, "unhealthy", reason=SkipReason.STORM_BRAKE, detail=why
        )
        h.history.record(rec)
    if store.take_trickle(policy.interval):
        return ""  # this one is the trickle
    return why


def overload(
    h: Healer,
    req: RepairRequest,
    inspected: dict[ContainerId, ContainerState],
    onset: Pressure,
) -> list[Found]:
    """The evidence of overload, cheapest first: the host's pressure when the storm began
    (`onset`), the engine's speed now, and, only when those show none, the container's health
    log (it needs an inspect)."""
    policy = overload_policy(h)
    found = from_pressure(policy, onset)
    limit = h.guard.limit_state()
    found += from_engine(policy, limit.cost, limit.best)
    if found:
        return found
    return from_checks(str(req.sid), _health_outputs(h, inspected))


def _health_outputs(h: Healer, inspected: dict[ContainerId, ContainerState]) -> list[str]:
    outputs: list[str] = []
    for cid, c in inspected.items():
        if not c.health_log:
            try:
                c = h.engine.inspect(cid)  # the list call carries no health log
            except EngineError:
                continue
        outputs += c.failing_outputs()
    return outputs
