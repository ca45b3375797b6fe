"""The bodies of `GET /status` and `GET /history`, which `healer status -o json` and
`healer history -o json` print unchanged: one shape for both interfaces."""

from __future__ import annotations

import re
from typing import Any

from healer.engine.context import Healer
from healer.engine.status import hosts, recoveries, status

# A Redis stream id (milliseconds-sequence), as `next` gives it and `?before=` takes it.
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


class BadCursor(ValueError):
    """`before` is not a stream id from a previous page's `next`."""


def status_body(h: Healer) -> dict[str, Any]:
    return {
        "services": status(h),
        "hosts": hosts(h),
        "paused_all": h.flags.paused_all(),
        "recoveries": recoveries(h),
        # With Sentinel, the master the healer writes to now (it changes at a failover).
        "redis": {"master": h.stores.master(), "url": h.settings.redis_url_redacted},
    }


def history_body(
    h: Healer,
    *,
    since: float,
    limit: int,
    service: str | None = None,
    host: str | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """A page of entries, newest first, each with its stream `id`; `next` is the cursor for
    the following (older) page, None on the last one."""
    if before is not None and not STREAM_ID.match(before):
        raise BadCursor(f"before={before!r}: not a cursor (use the `next` of a previous page)")
    entries, nxt = h.history.page(
        service=service, since=since, limit=limit, host=host, before=before
    )
    return {"entries": [{"id": i, **r.__dict__} for i, r in entries], "next": nxt}
