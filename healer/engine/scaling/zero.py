"""Scale to zero and back. At zero the last replica is stopped, not removed: compose keeps
no service template the healer could create one from, so that container is the template.
While parked the service is paused (the probe would otherwise start the stopped container
again) and marked parked in the scaler's store; waking starts that container again, then
clones more if more are wanted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healer.adapters.docker.engine import EngineError
from healer.adapters.docker.replicas import DrainGate, ReplicaChange
from healer.core.model import ServiceView

if TYPE_CHECKING:
    from healer.engine.scaling.apply import ScaleContext


def merge(a: ReplicaChange, b: ReplicaChange) -> ReplicaChange:
    return ReplicaChange(
        a.added + b.added,
        a.removed + b.removed,
        a.errors + b.errors,
        a.notes + b.notes,
        a.stopped + b.stopped,
        a.started + b.started,
    )


def park(sc: ScaleContext, view: ServiceView, gate: DrainGate | None) -> ReplicaChange:
    """Drain and stop the last running replica; keep it as the template."""
    running = sorted((c for c in view.containers if c.state == "running"), key=lambda c: c.number)
    if not running:
        sc.store.park(view.sid)
        sc.h.flags.pause(view.sid)
        return ReplicaChange(notes=("no replica running; parked at zero",))
    last = running[0]
    # Paused first: the stop must not read as a crash to the probe or the event watcher.
    sc.store.park(view.sid)
    sc.h.flags.pause(view.sid)
    sc.h.state.mark_acting([last.id], sc.options.lock_ttl)
    notes: tuple[str, ...] = ()
    if gate is not None:
        try:
            drained = gate({last.id: sc.h.engine.inspect(last.id)})
            notes = tuple(f"{last.name}: {n}" for n in drained.values() if n)
        except Exception as exc:  # a broken drain must not leave it half-drained
            notes = (f"drain failed ({exc}); stopped with its stop timeout",)
    try:
        sc.h.engine.stop(last.id, None)
    except EngineError as exc:
        unpark(sc, view)
        return ReplicaChange(errors=(f"{last.name}: {exc}",), notes=notes)
    return ReplicaChange(stopped=(last.name,), notes=notes)


def unpark(sc: ScaleContext, view: ServiceView) -> None:
    sc.store.unpark(view.sid)
    sc.h.flags.resume(view.sid)


def wake(sc: ScaleContext, view: ServiceView, desired: int) -> ReplicaChange:
    """Start the kept replica again, then clone up to `desired`."""
    kept = sorted(view.containers, key=lambda c: c.number)
    if not kept:
        unpark(sc, view)
        return ReplicaChange(errors=("the replica kept at zero is gone",))
    started = sc.replicas.start_stopped(kept[0])
    unpark(sc, view)
    if not started.ok or desired <= 1:
        return started
    more = desired - len(view.containers)
    return merge(started, sc.replicas.add(view, more)) if more > 0 else started
