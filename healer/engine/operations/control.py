"""Pause, resume, reset and scale as the operator asks for them, over HTTP or the CLI.

Each leaves a request record (GET /requests/{request_id}) and a history entry carrying the
operator's reason. Pause, resume and reset take effect before they return, so their record
is closed at once; a scale runs on the worker of the service's host (the API's engine proxy
is read-only), which closes the record when it ends.
"""

from __future__ import annotations

from typing import Any

from healer.adapters.store.history import Record
from healer.core.hosts import ServiceRef
from healer.core.model import Outcome, Source
from healer.engine.context import Healer
from healer.engine.repair.manual import send_or_fail

ALL = "*"  # the service of a pause/resume of every service, in its request record


def answer(
    request_id: str, ref: ServiceRef | None, action: str, status: str, **extra: Any
) -> dict[str, Any]:
    """The body every operation answers with (API and `healer … -o json` alike)."""
    return {
        "request_id": request_id,
        "service": str(ref.sid) if ref else ALL,
        "host": str(ref.host) if ref else "",
        "id": ref.qualified if ref else ALL,
        "action": action,
        "status": status,
        **extra,
    }


def _who(by: str) -> dict[str, str]:
    """`by` names the API token that asked (`api:1a2b3c4d`), never the token itself."""
    return {"by": by} if by else {}


def _done(
    h: Healer,
    ref: ServiceRef | None,
    action: str,
    outcome: Outcome,
    reason: str,
    source: Source,
    by: str = "",
) -> dict[str, Any]:
    """Record an operation that already took effect: request record (closed) and history."""
    host = str(ref.host) if ref else ""
    sid = str(ref.sid) if ref else ALL
    request_id = h.requests.open(sid, action, source, host=host, **_who(by))
    h.requests.close(request_id, Outcome.ACTED, reason, f"{action} by {source}")
    h.history.record(
        Record(
            sid=str(ref.sid) if ref else ALL,
            outcome=outcome,
            action=action,
            reason=reason,
            source=source,
            request_id=request_id,
            host=host,
            extra=_who(by),
        )
    )
    return answer(request_id, ref, action, "done", outcome=str(Outcome.ACTED), reason=reason)


def pause(
    h: Healer, ref: ServiceRef | None, reason: str, source: Source, by: str = ""
) -> dict[str, Any]:
    """Stop acting on `ref` (every service with None); it is still observed and reported."""
    if ref is None:
        h.flags.pause()
    else:
        h.stores.on(ref.host).flags.pause(ref.sid)
    return _done(h, ref, "pause", Outcome.PAUSED, reason, source, by)


def resume(
    h: Healer, ref: ServiceRef | None, reason: str, source: Source, by: str = ""
) -> dict[str, Any]:
    """Undo a pause and probe at once instead of at the next reconcile."""
    if ref is None:
        h.flags.resume()
    else:
        h.stores.on(ref.host).flags.resume(ref.sid)
    out = _done(h, ref, "resume", Outcome.RESUMED, reason, source, by)
    probe_now(h, ref)
    return out


def reset(h: Healer, ref: ServiceRef, reason: str, source: Source, by: str = "") -> dict[str, Any]:
    """End the service's episodes: attempts to zero, quarantine lifted."""
    removed = h.stores.on(ref.host).guard.reset(ref.sid)
    out = _done(h, ref, "reset", Outcome.RESET, reason or "healer reset", source, by)
    probe_now(h, ref)
    return {**out, "keys_cleared": removed}


def request_scale(
    h: Healer,
    ref: ServiceRef,
    replicas: int,
    force: bool,
    reason: str,
    source: Source,
    by: str = "",
) -> dict[str, Any]:
    """Queue a scale of `ref` to `replicas` on its host's worker; the worker closes the
    request record with the outcome (acted: scaled, skipped: held or refused)."""
    request_id = h.requests.open(
        str(ref.sid),
        "scale",
        source,
        host=str(ref.host),
        reason=reason,
        replicas=str(replicas),
        **_who(by),
    )
    if force:
        # The worker goes past min/max only with this grant; the API's Redis user cannot
        # write it, so only the CLI on a healer host forces a scale.
        h.requests.grant_force(request_id)
    send_or_fail(
        h,
        request_id,
        lambda: h.dispatcher.scale(ref.sid, replicas, source, request_id, ref.host, force),
    )
    h.history.record(
        Record(
            sid=str(ref.sid),
            outcome=Outcome.REQUESTED,
            action="scale",
            reason=reason,
            detail=f"to {replicas} replicas" + (" (force)" if force else ""),
            source=source,
            request_id=request_id,
            host=str(ref.host),
            extra=_who(by),
        )
    )
    return answer(request_id, ref, "scale", "queued", replicas=replicas, force=force)


def probe_now(h: Healer, ref: ServiceRef | None) -> None:
    """Act on the new state at once instead of at the next reconcile (on every live host)."""
    if ref is None:
        for host in h.hosts.live() or [h.host]:
            h.dispatcher.probe_all(host)
    else:
        h.dispatcher.probe(ref.sid, host=ref.host)
