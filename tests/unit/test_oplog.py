"""The operation log's lines: what an offline checker reads (tests/chaos/soak_check.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from healer.adapters.oplog import OpLog, read


def test_each_line_names_the_healer_host_and_the_machine(tmp_path: Path) -> None:
    path = tmp_path / "ops.jsonl"
    OpLog(path, "node-b").write("act", sid="p/web", budget=12)
    OpLog(path).write("done", sid="p/web")
    with path.open("a") as torn:  # a worker killed mid-write
        torn.write('{"event": "torn')
    first, second = read(path)
    assert (first["event"], first["host"], first["sid"], first["budget"]) == (
        "act",
        "node-b",
        "p/web",
        12,
    )
    assert first["machine"] == second["machine"] == socket.gethostname()
    assert second["host"] == socket.gethostname(), "no HEALER_HOST: the machine's name"


def test_without_a_path_nothing_is_written(tmp_path: Path) -> None:
    OpLog(None, "node-a").write("act")
    assert list(tmp_path.iterdir()) == []
