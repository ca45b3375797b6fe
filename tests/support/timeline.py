"""Where the suite's wall time goes: with HEALER_TEST_TIMELINE=<file>, every test's phases are
written there as JSON lines (worker, test, phase, start, stop; epoch seconds), and
`python -m tests.support.timeline <file>` prints the wall time, each worker's busy time and
the longest tests with when they started."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

ENV = "HEALER_TEST_TIMELINE"


def record(path: Path, report: pytest.TestReport) -> None:
    node = getattr(report, "node", None)  # xdist: the worker the report came from
    worker = node.gateway.id if node is not None else "main"
    line = {
        "worker": worker,
        "test": report.nodeid,
        "phase": report.when,
        "start": report.start,
        "stop": report.stop,
    }
    with path.open("a") as out:
        out.write(json.dumps(line) + "\n")


def summary(lines: list[dict[str, Any]]) -> str:
    start = min(x["start"] for x in lines)
    end = max(x["stop"] for x in lines)
    busy: dict[str, float] = defaultdict(float)
    tests: dict[str, list[float]] = {}
    for x in lines:
        busy[x["worker"]] += x["stop"] - x["start"]
        span = tests.setdefault(x["test"], [x["start"], x["stop"], 0.0])
        span[0], span[1] = min(span[0], x["start"]), max(span[1], x["stop"])
    out = [f"wall {end - start:.0f} s"]
    out += [f"  {w}: busy {b:.0f} s" for w, b in sorted(busy.items())]
    spans = sorted((s, e, t) for t, (s, e, _) in tests.items())
    out.append("longest tests (start offset, seconds):")
    for s, e, t in sorted(spans, key=lambda x: x[0] - x[1])[:40]:
        out.append(f"  +{s - start:6.0f}  {e - s:6.1f}  {t}")
    return "\n".join(out)


if __name__ == "__main__":
    rows = [json.loads(x) for x in Path(sys.argv[1]).read_text().splitlines() if x.strip()]
    print(summary(rows))
