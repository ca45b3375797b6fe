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
_FILE_LOGGER = "healer.auto_repair"


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
        parts = [stamp, self.outcome.upper(), f"{self.host}/{self.sid}" if self.host else self.sid]
        parts += [p for p in (self.condition, self.action) if p]
        if self.attempt:
            parts.append(f"attempt={self.attempt}")
        if self.reason:
            parts.append(f"reason={self.reason!r}")
        if self.detail:
            parts.append(f"detail={self.detail!r}")
        if self.source:
            parts.append(f"source={self.source}")
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
    ) -> list[Record]:
        """Newest first. `service` is any service id (`service`, `project/service` or
        `host/project/service`); `host` keeps one host's entries."""
        # Stream ids are unsigned milliseconds: anything at or before the epoch is "all".
        min_id = f"{int(since * 1000)}-0" if since and since > 0 else "-"
        out: list[Record] = []
        last = "+"
        while len(out) < limit:
            batch = self._r.xrevrange(keys.HISTORY, max=last, min=min_id, count=500)
            if not batch:
                break
            for _entry_id, fields in batch:
                rec = _from_fields(fields)
                if _wanted(rec, service, host):
                    out.append(rec)
            last = "(" + str(batch[-1][0])
        return out[:limit]

    def trim_older_than(self, cutoff: float) -> int:
        return int(self._r.xtrim(keys.HISTORY, minid=f"{int(cutoff * 1000)}-0", approximate=True))


def _wanted(rec: Record, service: str | None, host: str | None) -> bool:
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
