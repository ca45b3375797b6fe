"""What a recovery tells the operator: its live status and its one history entry. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from healer.core.boot.plan import Blocked, Progress, Step
from healer.core.model import ServiceId


def status_record(
    project: str, reason: str, state: str, result: Step, p: Progress, now: float
) -> dict[str, object]:
    """The JSON `healer status` shows while a recovery runs (and the last one after)."""
    return {
        "project": project,
        "state": state,  # running | done | incomplete
        "reason": reason,
        "started_at": p.t0,
        "elapsed": round(now - p.t0, 1),
        "started": list(p.order),
        "held": sorted(p.held),
        "stopped": sorted(p.stopped),
        "ready": sorted(p.ready),
        "failed": dict(sorted(p.failed.items())),
        "waiting": {
            sid: {
                "for": b.blocker,
                "condition": b.condition,
                "seconds": round(now - b.since, 1),
            }
            for sid, b in sorted(result.waiting.items())
        },
        "timed_out": {sid: b.blocker for sid, b in sorted(p.timed_out.items())},
    }


def _wait_text(sid: ServiceId, waits: Sequence[Blocked], p: Progress) -> str:
    blockers = ", ".join(f"{b.blocker} {b.condition}" for b in waits)
    return f"{sid} waited {p.waited.get(sid, 0.0):.1f}s for {blockers}"


def summary(
    p: Progress,
    waits: Mapping[ServiceId, Sequence[Blocked]],
    elapsed: float,
    result: Step,
) -> tuple[str, dict[str, str]]:
    """The ``boot`` history entry: order, each wait, total time; and its structured extra."""
    parts = [f"order: {' → '.join(p.order) if p.order else '(nothing to start)'}"]
    if p.stopped:
        parts.append(f"stopped as started out of order: {', '.join(sorted(p.stopped))}")
    stopped_then_started = [s for s in p.order if s in waits and s in p.started]
    parts += [_wait_text(s, waits[s], p) for s in stopped_then_started]
    parts += [f"{sid} timed out waiting for {b.blocker}" for sid, b in sorted(p.timed_out.items())]
    parts += [f"{sid} {why}" for sid, why in sorted(p.failed.items())]
    if not result.done:
        parts.append(f"still waiting: {', '.join(sorted(result.waiting)) or '-'}")
    parts.append(f"{'healthy' if result.done else 'gave up'} after {elapsed:.1f}s")
    extra = {
        "order": json.dumps(list(p.order)),
        "stopped": json.dumps(sorted(p.stopped)),
        "waits": json.dumps({s: p.waited.get(s, 0.0) for s in p.order}),
        "blockers": json.dumps(
            {s: [f"{b.blocker}:{b.condition}" for b in ws] for s, ws in sorted(waits.items())}
        ),
        "timed_out": json.dumps({s: b.blocker for s, b in sorted(p.timed_out.items())}),
        "failed": json.dumps(dict(p.failed)),
        "total_seconds": f"{elapsed:.3f}",
    }
    return "; ".join(parts), extra
