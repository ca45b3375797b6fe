"""What `healer status`, `GET /status` and the service resolver see: a live read, never a
stale cache — one Docker list call and one Redis pipeline, planned without side effects."""

from __future__ import annotations

from healer.core.model import ServiceId
from healer.core.reconcile import plan
from healer.engine.context import Healer


class UnknownService(LookupError):
    pass


class AmbiguousService(LookupError):
    pass


def resolve(h: Healer, name: str) -> ServiceId:
    """`service` or `project/service` → the managed service id, or a clear error."""
    services = h.engine.services()
    if "/" in name:
        if ServiceId(name) in services:
            return ServiceId(name)
        raise UnknownService(f"no managed compose service {name!r}")
    matches = [sid for sid in services if sid.split("/", 1)[1] == name]
    if not matches:
        raise UnknownService(
            f"no managed compose service named {name!r}"
            + (f" in projects {', '.join(h.settings.project_list)}" if h.settings.projects else "")
        )
    if len(matches) > 1:
        raise AmbiguousService(
            f"{name!r} exists in several projects; say which: {', '.join(sorted(matches))}"
        )
    return matches[0]


def status(h: Healer) -> dict[str, dict[str, object]]:
    now = h.clock()
    views = h.engine.services()
    snap = h.state.read(views.values(), now)
    p = plan(views, snap, h.defaults, now)
    assert p.effects is not None
    out = {str(sid): snap_ for sid, snap_ in p.effects.snapshots.items()}
    # The autoscaler's latest decision (replicas, metric, reason) beside the live state; it
    # is as old as the last scaler cycle and gone when no cycle ran for three intervals.
    for sid, decision in h.stores.scale.status().items():
        if sid in out:
            out[sid]["scale"] = decision
    return out
