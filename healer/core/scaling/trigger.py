"""React to a queue crossing its target at once (as KEDA does), not at the next scaler cycle.

Each scaler cycle leaves, per queue-scaled service, what a cheap check needs: its queues,
its target per replica, its replica count and ceiling (a `Watch`). Between cycles the check
reads only the broker backlog (LLEN) and asks for a scale cycle of the one service whose
backlog alone already needs more replicas than it has. The backlog is a lower bound of the
load (tasks on workers are not in it), so a trigger never fires where the full cycle would
not scale up; the decision itself stays `scaling.decide`, with its rate limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healer.core.model import ServiceId


@dataclass(frozen=True)
class Watch:
    sid: ServiceId
    queues: tuple[str, ...]
    target: float  # tasks per replica
    replicas: int  # as the last cycle saw them
    max_replicas: int
    tolerance: float = 0.1

    def to_json(self) -> dict[str, Any]:
        return {
            "queues": list(self.queues),
            "target": self.target,
            "replicas": self.replicas,
            "max": self.max_replicas,
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_json(cls, sid: str, data: Mapping[str, Any]) -> Watch | None:
        """None for an entry that cannot be read (another version wrote it)."""
        try:
            queues = tuple(str(q) for q in data["queues"])
            watch = cls(
                ServiceId(sid),
                queues,
                float(data["target"]),
                int(data["replicas"]),
                int(data["max"]),
                float(data.get("tolerance", 0.1)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return watch if queues and watch.target > 0 and math.isfinite(watch.target) else None


def needs_more(watch: Watch, backlog: int) -> bool:
    """The backlog alone asks for more replicas than run, and there is room for them."""
    if watch.replicas >= watch.max_replicas:
        return False
    if watch.replicas == 0:
        return backlog > 0
    return backlog > watch.replicas * watch.target * (1 + watch.tolerance)


def triggered(watches: Mapping[ServiceId, Watch], backlog: Mapping[str, int]) -> list[ServiceId]:
    """Services to scale now, given the backlog of every watched queue."""
    return [
        sid
        for sid, w in sorted(watches.items())
        if needs_more(w, sum(backlog.get(q, 0) for q in w.queues))
    ]
