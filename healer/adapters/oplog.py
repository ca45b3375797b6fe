"""The operation log: one JSON line when a repair starts acting and one when it ends, in a
file outside Redis (HEALER_OPLOG), so an offline checker can prove the guard's promises
after the fact even across Redis restarts and killed workers (tests/chaos/soak_check.py).

Each line is one `write` on an O_APPEND descriptor: lines from many worker processes never
interleave. A line that cannot be written is logged and dropped; it never fails a repair.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("healer.oplog")


class OpLog:
    """`host` is the healer host the lines are about (HEALER_HOST): two agents on one machine
    share a hostname, so the machine's name goes in its own field."""

    def __init__(self, path: Path | None, host: str = "") -> None:
        self.path = path
        self.host = host or socket.gethostname()

    def write(self, event: str, **fields: Any) -> None:
        if self.path is None:
            return
        line = {
            "event": event,
            "t": time.time(),
            "pid": os.getpid(),
            "host": self.host,
            "machine": socket.gethostname(),
        }
        line.update(fields)
        data = (json.dumps(line, default=str) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("operation log %s not written: %s", self.path, exc)


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete line (a worker killed mid-write can leave a torn last line)."""
    out = []
    for raw in path.read_text().splitlines():
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return out
