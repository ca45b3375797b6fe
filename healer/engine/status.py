"""What `healer status`, `GET /status` and the service resolver see, for the whole cluster.

This process's own host is read live (one Docker list call and one Redis pipeline, planned
without side effects); other hosts are seen through what their agents published: the
snapshots of their last probes and the catalogue of their last reconcile. Ids are resolved
by `healer.core.hosts.resolve_service` (pure) against that catalogue.
"""

from __future__ import annotations

from typing import Any

from healer.adapters.docker.engine import EngineError
from healer.core.hosts import (
    AmbiguousService,
    HostState,
    ServiceRef,
    UnknownService,
    display_ids,
    resolve_service,
)
from healer.core.model import HostId, ServiceId
from healer.core.reconcile import plan
from healer.engine.context import Healer
from healer.errors import Unavailable

__all__ = ["AmbiguousService", "UnknownService", "catalogue", "hosts", "resolve", "status"]


class HostDown(Unavailable):
    """The service's host has no live agent: nothing could act on it now."""


def catalogue(h: Healer) -> dict[HostId, set[ServiceId]]:
    """Every known host's services: this host live from its engine, the others as their
    last reconcile published them (kept while the host is down, so its ids still resolve)."""
    known = set(h.hosts.heartbeats()) - {h.host}
    out = h.hosts.catalogue(sorted(known))
    try:
        out[h.host] = set(h.engine.services())
    except EngineError:
        if not out:
            raise  # one host and no engine: say so rather than "unknown service"
        out[h.host] = h.hosts.catalogue([h.host])[h.host]
    return {host: sids for host, sids in out.items() if sids or host == h.host}


def resolve(h: Healer, name: str) -> ServiceRef:
    """`service`, `project/service` or `host/project/service` → the one service it names.
    Raises UnknownService / AmbiguousService (listing the candidates)."""
    return resolve_service(name, catalogue(h))


def require_live(h: Healer, ref: ServiceRef) -> None:
    """Refuse work for a host that is down: no worker would take it, and an acknowledged
    request must end in an outcome."""
    state = h.hosts.states().get(ref.host)
    if ref.host == h.host and state is None:
        return  # this host before its first heartbeat (a one-host install starting up)
    if state is None or state.state != HostState.UP:
        age = f"no heartbeat for {state.age:.0f}s" if state else "never seen"
        raise HostDown(
            f"host {ref.host!r} is host_down ({age}); {ref.qualified} cannot be acted on"
        )


def hosts(h: Healer) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for host, st in h.hosts.states().items():
        out[host] = {
            "status": st.state.value,
            "last_heartbeat": st.last_heartbeat,
            "heartbeat_age": round(st.age, 1),
            **{k: v for k, v in h.hosts.info(host).items() if k != "last_heartbeat"},
        }
    return out


_UNSEEN: dict[str, object] = {
    "status": "unknown",
    "containers": [],
    "attempts": 0,
    "cooldown_remaining": {},
    "problems": ["no recent probe from this host"],
}


def status(h: Healer) -> dict[str, dict[str, object]]:
    """Every service of every known host, keyed by its shortest unambiguous id (so with one
    host, `project/service` as before); each entry carries `host` and the qualified `id`."""
    per_host: dict[ServiceRef, dict[str, object]] = {}
    others = sorted(set(h.hosts.heartbeats()) - {h.host})
    for host, sids in h.hosts.catalogue(others).items():
        # A host that stopped probing still lists its services, as unknown.
        for sid in sids:
            per_host[ServiceRef(host, sid)] = dict(_UNSEEN)
    for host in others:
        scale = h.stores.on(host).scale.status()
        for name, snap in h.stores.snapshots(host).items():
            per_host[ServiceRef(host, ServiceId(name))] = (
                {**snap, "scale": scale[name]} if name in scale else snap
            )
    for name, snap in _local(h).items():
        per_host[ServiceRef(h.host, ServiceId(name))] = snap
    states = h.hosts.states()
    names = display_ids(per_host)
    out: dict[str, dict[str, object]] = {}
    for ref in sorted(per_host):
        st = states.get(ref.host)
        down = st is not None and st.state == HostState.DOWN
        out[names[ref]] = {
            **per_host[ref],
            "host": ref.host,
            "id": ref.qualified,
            "host_status": HostState.DOWN.value if down else HostState.UP.value,
        }
    return out


def _local(h: Healer) -> dict[str, dict[str, object]]:
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


def recoveries(h: Healer) -> dict[str, dict[str, Any]]:
    """Ordered recoveries after an engine restart, on every known host: the running ones and
    the last of each project (kept a day). Keyed by project with one host, else by
    `host/project`; each names its host."""
    known = sorted({h.host, *h.hosts.states()})
    out: dict[str, dict[str, Any]] = {}
    for host in known:
        for project, st in h.stores.on(host).boot.statuses().items():
            out[project if len(known) == 1 else f"{host}/{project}"] = {**st, "host": host}
    return out
