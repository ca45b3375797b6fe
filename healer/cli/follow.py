"""`healer history --follow`: new decisions printed as they are recorded, like
`kubectl get events --watch`, until Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable

from healer.adapters.store.history import Record, wanted
from healer.engine.context import Healer


def follow(
    h: Healer,
    start: str,
    show: Callable[[str, Record], None],
    *,
    service: str | None = None,
    host: str | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Print (`show`) every entry recorded after the stream id `start`, as it comes. Each
    read blocks at most a second so Ctrl-C and `stopping` are noticed promptly."""
    last = start
    while not stopping():
        for entry_id, rec in h.history.after(last):
            last = entry_id
            if wanted(rec, service, host):
                show(entry_id, rec)
