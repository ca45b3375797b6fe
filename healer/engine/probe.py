"""A probe: observe (one Docker list call, one Redis pipeline) → plan (pure) → apply."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from healer.adapters.store.history import Record
from healer.core.labels import parse_service_labels
from healer.core.model import ContainerId, ServiceId, Source
from healer.core.reconcile import Plan, plan, related_views
from healer.core.resources import resource_findings
from healer.engine.context import Healer

log = logging.getLogger("healer.probe")


@dataclass(frozen=True)
class ProbeResult:
    services: int
    containers: int
    requests: int
    duration: float


def probe(
    h: Healer,
    sid: ServiceId | None = None,
    source: Source = Source.PROBE,
    container_id: ContainerId | None = None,
) -> ProbeResult:
    started = time.perf_counter()
    now = h.clock()
    if sid is None:
        views = h.engine.services()
    else:
        views = related_views(h.engine.project_fresh(sid, container_id), sid)
    snap = h.state.read(views.values(), now)
    # A project an ordered recovery is bringing back after an engine restart is left to it.
    snap = replace(snap, booting=h.stores.boot.booting(s.partition("/")[0] for s in views))
    # Resource use is sampled on the reconcile path only: an event says a state changed,
    # while "above 90 % for 5 minutes" needs regular samples.
    extra = resource_findings(views, h.resources.cycle(views)) if sid is None else []
    p = plan(views, snap, h.defaults, now, source, extra)
    assert p.effects is not None
    h.state.write(p.effects)
    if sid is None:  # the repair-storm brake's denominator: this host's managed services
        managed = sum(1 for v in views.values() if not parse_service_labels(v.labels).opted_out)
        h.stores.storm.set_managed(managed, 3 * h.settings.watchdog_interval + 30)
    _apply(h, p)
    # A service with no container left (compose down or rm): its report goes now. A probe
    # racing a removal (or a new service) by milliseconds is set right by the next reconcile.
    if sid is None or sid not in views:
        h.state.forget_snapshots(views.keys(), only=sid)
    if sid is None:
        # The host's catalogue: how the API resolves and routes ids for every host.
        h.hosts.publish_services(h.host, views.keys())
    if sid is None and h.settings.boot_recovery:
        # What ran at the last full look is what an engine restart must bring back.
        h.stores.boot.remember(views.values())
    containers = sum(len(v.containers) for v in views.values())
    return ProbeResult(len(views), containers, len(p.requests), time.perf_counter() - started)


def reconcile(h: Healer) -> ProbeResult:
    """The scheduled probe of every service of this host (what beat fans out to each host)."""
    result = probe(h)
    ttl = 3 * h.settings.watchdog_interval + 30
    # Each reconcile proves both that beat fires the schedule and that a worker runs it.
    h.counters.heartbeat("worker", ttl=ttl)
    h.counters.heartbeat("beat", ttl=ttl)
    h.telemetry.observe("healer_probe_duration_seconds", result.duration, "all")
    return result


def _apply(h: Healer, p: Plan) -> None:
    for note in p.notes:
        rec = Record(
            sid=note.sid,
            outcome=note.outcome,
            condition=note.condition,
            action=note.action,
            reason=note.reason,
            detail=note.detail,
            source=Source.PROBE,
        )
        if note.once:
            if h.history.record_skip_once(rec):
                h.counters.decision(note.sid, note.outcome)
        else:
            h.history.record(rec)
    # Ten events for one failure mean ten probes: only the first queues the repair. The
    # pending marks are claimed in one round trip, whatever the number of requests.
    # A lost task frees its mark after a lock lifetime, like a lost lock.
    wanted = [(req.sid, req.condition) for req in p.requests]
    claimed = h.state.claim_pending(wanted, h.settings.lock_ttl)
    for req, fresh in zip(p.requests, claimed, strict=True):
        if fresh:
            h.dispatcher.repair(req)
    for sid, wait in p.reprobes.items():
        # Long waits are left to the reconcile loop: a far-future ETA task would sit in a
        # worker's memory and outlive the broker's visibility timeout.
        if wait < h.settings.watchdog_interval and h.state.claim_reprobe(sid, wait):
            h.dispatcher.probe(sid, countdown=wait + 0.05)
