"""Every decision, acted or skipped, in a bounded Redis stream and in logs/auto_repair.log."""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import redis

from healer.adapters.store import keys
from healer.core.model import HostId, ServiceId

log = logging.getLogger("healer.history")

# Entries one history query reads at most (newest first): ~0.15 s of CPU.
MAX_SCAN = 10_000
_FILE_LOGGER = "healer.auto_repair"


def _plain(text: str) -> str:
    """As is when it is one printable word; quoted and escaped otherwise. A service name comes
    from an alert's label, and a newline in it must not forge a log line of its own."""
    return text if text.isprintable() and " " not in text else repr(text)


@dataclass(frozen=True)
class Record:
    sid: str
    # Writers pass core.model.Outcome and Source members; the fields are plain str because a
    # record read back from the stream holds whatever an older or newer healer wrote.
    outcome: str
    condition: str = ""
    action: str = ""
    reason: str = ""
    detail: str = ""
    source: str = ""
    request_id: str = ""
    attempt: int = 0
    ts: float = field(default_factory=time.time)
    extra: dict[str, str] = field(default_factory=dict)
    host: str = ""  # the Docker host of the service ("" in entries from before hosts)

    def line(self) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.ts))
        sid = f"{self.host}/{self.sid}" if self.host else self.sid
        parts = [stamp, _plain(self.outcome.upper()), _plain(sid)]
        parts += [_plain(p) for p in (self.condition, self.action) if p]
        if self.attempt:
            parts.append(f"attempt={self.attempt}")
        if self.reason:
            parts.append(f"reason={self.reason!r}")
        if self.detail:
            parts.append(f"detail={self.detail!r}")
        if self.source:
            parts.append(f"source={_plain(self.source)}")
        return " ".join(parts)


def setup_file_log(log_dir: Path) -> None:
    """Attach the append-only decision log; called by each entry point, never at import."""
    logger = logging.getLogger(_FILE_LOGGER)
    if any(getattr(h, "_healer", False) for h in logger.handlers):
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    # WatchedFileHandler: O_APPEND writes from many worker processes stay line-atomic,
    # and logrotate can move the file away under us.
    handler = logging.handlers.WatchedFileHandler(log_dir / "auto_repair.log")
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._healer = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class History:
    """One stream for the whole cluster; a host's writer stamps its records with its host."""

    def __init__(self, r: redis.Redis, maxlen: int, host: HostId | None = None) -> None:
        self._r = r
        self._maxlen = maxlen
        self._host = host

    def record(self, rec: Record) -> None:
        if not rec.host and self._host:
            rec = replace(rec, host=self._host)
        fields = {
            k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in asdict(rec).items()
        }
        self._r.xadd(keys.HISTORY, fields, maxlen=self._maxlen, approximate=True)
        level = (
            logging.CRITICAL
            if rec.outcome == "quarantined"
            else (logging.ERROR if rec.outcome == "failed" else logging.INFO)
        )
        logging.getLogger(_FILE_LOGGER).log(level, rec.line())

    def record_skip_once(self, rec: Record, ttl: int = keys.SKIP_DEDUPE_TTL) -> bool:
        """Record a skip unless the same skip was recorded recently (a probe every 30 s
        would otherwise flood the history with one fact)."""
        host = HostId(rec.host or self._host or "")
        key = keys.skip_seen(host, ServiceId(rec.sid), rec.condition, rec.reason.split(":")[0])
        if not self._r.set(key, "1", nx=True, ex=ttl):
            return False
        self.record(rec)
        return True

    def query(
        self,
        *,
        service: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        host: str | None = None,
        max_scan: int = MAX_SCAN,
    ) -> list[Record]:
        """Newest first. `service` is any service id (`service`, `project/service` or
        `host/project/service`); `host` keeps one host's entries. At most `max_scan`
        entries are read: a filter that matches little cannot make one request walk the
        whole stream (100k entries, ~1.5 s of CPU)."""
        # Stream ids are unsigned milliseconds: anything at or before the epoch is "all".
        min_id = f"{int(since * 1000)}-0" if since and since > 0 else "-"
        out: list[Record] = []
        last = "+"
        scanned = 0
        while len(out) < limit and scanned < max_scan:
            count = min(500, max_scan - scanned)
            batch = self._r.xrevrange(keys.HISTORY, max=last, min=min_id, count=count)
            if not batch:
                break
            scanned += len(batch)
            for _entry_id, fields in batch:
                rec = _from_fields(fields)
                if wanted(rec, service, host):
                    out.append(rec)
            last = "(" + str(batch[-1][0])
        return out[:limit]

    def page(
        self,
        *,
        service: str | None = None,
        since: float | None = None,
        limit: int = 200,
        host: str | None = None,
        before: str | None = None,
    ) -> tuple[list[tuple[str, Record]], str | None]:
        """Newest first, each entry with its stream id, strictly older than `before` (a
        stream id from a previous page's `next`). `next` is None on the last page."""
        min_id = f"{int(since * 1000)}-0" if since and since > 0 else "-"
        out: list[tuple[str, Record]] = []
        last = f"({before}" if before else "+"
        while len(out) < limit:
            batch = self._r.xrevrange(keys.HISTORY, max=last, min=min_id, count=500)
            for entry_id, fields in batch:
                rec = _from_fields(fields)
                if wanted(rec, service, host):
                    out.append((str(entry_id), rec))
                if len(out) == limit:
                    # The cursor is this entry, not the batch's end: the rest of the batch
                    # belongs to the next page.
                    return out, str(entry_id)
            if len(batch) < 500:
                break
            last = "(" + str(batch[-1][0])
        return out, None

    def after(
        self, last_id: str, block_ms: int = 1000, count: int = 100
    ) -> list[tuple[str, Record]]:
        """Entries newer than `last_id` (`$`: from now on), oldest first, waiting up to
        `block_ms` for the first (below the connection's 10 s socket timeout)."""
        got = self._r.xread({keys.HISTORY: last_id}, count=count, block=block_ms)
        return [(str(i), _from_fields(f)) for _stream, batch in got or [] for i, f in batch]

    def last_id(self) -> str:
        """The newest entry's id, or `0-0` for an empty stream (a cursor for `after`)."""
        newest = self._r.xrevrange(keys.HISTORY, count=1)
        return str(newest[0][0]) if newest else "0-0"

    def trim_older_than(self, cutoff: float) -> int:
        return int(self._r.xtrim(keys.HISTORY, minid=f"{int(cutoff * 1000)}-0", approximate=True))


def wanted(rec: Record, service: str | None, host: str | None) -> bool:
    if host is not None and rec.host != host:
        return False
    if service is None:
        return True
    full = f"{rec.host}/{rec.sid}"
    return full == service or full.endswith("/" + service)


def _from_fields(f: dict[str, str]) -> Record:
    extra = json.loads(f.get("extra", "{}") or "{}")
    return Record(
        sid=f.get("sid", ""),
        outcome=f.get("outcome", ""),
        condition=f.get("condition", ""),
        action=f.get("action", ""),
        reason=f.get("reason", ""),
        detail=f.get("detail", ""),
        source=f.get("source", ""),
        request_id=f.get("request_id", ""),
        attempt=int(f.get("attempt", "0") or 0),
        ts=float(f.get("ts", "0") or 0),
        extra=extra,
        host=f.get("host", ""),
    )
