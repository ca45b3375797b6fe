"""The between-cycles scale check (healer.core.scaling.trigger) against Redis: read the watched
services, LLEN their queues in one pipeline, and ask for a cycle of each that crossed.

Beat runs it on every tick (beat.scheduler), so only the beat holding RedBeat's lock checks,
at most once a second: three Redis round trips, no Docker call, no Celery inspect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from healer.adapters.scaling.state import ScaleStore
from healer.core.model import ServiceId
from healer.core.scaling.trigger import triggered

log = logging.getLogger("healer.scale_trigger")

Backlog = Callable[[Sequence[str]], dict[str, int]]


class ScaleTrigger:
    def __init__(
        self, store: ScaleStore, backlog: Backlog, send: Callable[[ServiceId], None]
    ) -> None:
        self.store = store
        self.backlog = backlog
        self.send = send

    def check(self) -> list[ServiceId]:
        """The services a scale cycle was asked for now."""
        watches = self.store.watches()
        if not watches:
            return []
        queues = sorted({q for w in watches.values() for q in w.queues})
        fired = []
        for sid in triggered(watches, self.backlog(queues)):
            if self.store.claim_trigger(sid):
                self.send(sid)
                fired.append(sid)
                log.info("%s: queue backlog crossed its target; scale cycle now", sid)
        return fired
