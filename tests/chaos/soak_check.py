"""The soak's offline checker: proves the guard's promises from evidence kept OUTSIDE Redis
(the healer's operation log, the harness's fault log, Docker's own event stream and the API's
answers), so a Redis restart or a killed worker cannot hide a violation.

Run it on a kept soak folder:  python -m tests.chaos.soak_check SOAK_DIR
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The healer's own conditions (an operator's MANUAL request has no attempt budget).
BUDGETED = {"unhealthy", "exited", "restarting", "memory", "cpu", "network", "dependency", "alert"}
# A begin without an end (its worker was SIGKILLed) held the lock for its budget at most;
# a second of slack for the clock between the lock's TTL and the begin line.
SLACK = 1.0
SERVICE_FAULTS = {"crash", "unhealthy", "hand_stop"}


@dataclass
class Evidence:
    ops: list[dict[str, Any]]  # healer's operation log (begin/end lines)
    faults: list[dict[str, Any]]  # harness: {"t", "service", "kind"}
    events: list[dict[str, Any]]  # Docker: {"action", "service", "container_id", "time_ns"}
    requests: dict[str, dict[str, Any]]  # accepted request id → its final record
    final: dict[str, dict[str, Any]]  # /status at the end: service → snapshot
    max_attempts: int
    volumes_before: list[str] = field(default_factory=list)
    volumes_after: list[str] = field(default_factory=list)


def intervals(ops: list[dict[str, Any]]) -> dict[str, list[tuple[float, float, str]]]:
    """Per service, the (start, end, request) of every repair's acting phase."""
    ends = {
        (o["pid"], o["request"], o["sid"], o["attempt"]): o["t"] for o in ops if o["event"] == "end"
    }
    out: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for o in ops:
        if o["event"] != "begin":
            continue
        key = (o["pid"], o["request"], o["sid"], o["attempt"])
        end = ends.get(key, o["t"] + float(o.get("budget", 0)) - SLACK)
        out[o["sid"]].append((o["t"], end, o["request"]))
    return {sid: sorted(v) for sid, v in out.items()}


def overlapping(ops: list[dict[str, Any]]) -> list[str]:
    problems = []
    for sid, spans in intervals(ops).items():
        for (_s1, e1, r1), (s2, _e2, r2) in itertools.pairwise(spans):
            if s2 < e1:
                problems.append(f"{sid}: repair {r2} began {e1 - s2:.2f}s before {r1} ended")
    return problems


def over_budget(ops: list[dict[str, Any]], max_attempts: int) -> list[str]:
    episodes: dict[tuple[str, str, Any], set[str]] = defaultdict(set)
    problems = []
    for o in ops:
        if o["event"] != "begin" or o["condition"] not in BUDGETED:
            continue
        episodes[(o["sid"], o["condition"], o["episode"])].add(o["request"])
        if o["attempt"] > max_attempts:
            problems.append(f"{o['sid']} {o['condition']}: attempt {o['attempt']} > {max_attempts}")
    for (sid, cond, started), requests in episodes.items():
        if len(requests) > max_attempts:
            problems.append(f"{sid} {cond} episode {started}: {len(requests)} repairs")
    return problems


def unrepaired(ev: Evidence) -> list[str]:
    problems = []
    for sid, snap in ev.final.items():
        if snap.get("quarantined"):
            continue
        containers = snap.get("containers") or []
        bad = [
            c for c in containers if c.get("state") != "running" or c.get("health") == "unhealthy"
        ]
        if bad or not containers:
            problems.append(f"{sid} ended neither repaired nor quarantined: {containers}")
    for fault in ev.faults:
        if fault["kind"] not in SERVICE_FAULTS:
            continue  # a worker kill or Redis restart is not a service failure
        sid = fault["sid"]
        if ev.final.get(sid, {}).get("quarantined"):
            continue
        after = [
            e
            for e in ev.events
            if e["sid"] == sid
            and e["action"] in ("start", "restart")
            and e["time_ns"] / 1e9 >= fault["t"] - 0.5
        ]
        if not after:
            problems.append(f"{fault['kind']} of {sid} at {fault['t']:.1f} was never repaired")
    return problems


def unfinished(requests: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"request {rid} not finished: {rec}"
        for rid, rec in requests.items()
        if rec.get("status") != "done"
    ]


def removed(ev: Evidence) -> list[str]:
    problems = [
        f"container {e['container_id'][:12]} of {e['sid']} destroyed"
        for e in ev.events
        if e["action"] == "destroy"
    ]
    gone = sorted(set(ev.volumes_before) - set(ev.volumes_after))
    if gone:
        problems.append(f"volumes removed: {gone}")
    return problems


def check(ev: Evidence) -> dict[str, list[str]]:
    return {
        "never two repairs of one service at once": overlapping(ev.ops),
        "never more than max_attempts per episode": over_budget(ev.ops, ev.max_attempts),
        "every failure repaired or quarantined": unrepaired(ev),
        "every accepted request finished": unfinished(ev.requests),
        "nothing removed that must not be": removed(ev),
    }


def figures(ev: Evidence, seconds: float) -> dict[str, Any]:
    begins = [o for o in ev.ops if o["event"] == "begin"]
    ends = [o for o in ev.ops if o["event"] == "end"]
    kinds: dict[str, int] = defaultdict(int)
    for f in ev.faults:
        kinds[f["kind"]] += 1
    return {
        "seconds": round(seconds),
        "faults": dict(kinds),
        "repairs_begun": len(begins),
        "repairs_ended": len(ends),
        "accepted_requests": len(ev.requests),
        "quarantined": sorted(s for s, v in ev.final.items() if v.get("quarantined")),
        "docker_events": len(ev.events),
    }


def load(folder: Path) -> Evidence:
    def jsonl(name: str) -> list[dict[str, Any]]:
        path = folder / name
        rows = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line of a killed writer
        return rows

    meta = json.loads((folder / "meta.json").read_text())
    return Evidence(
        ops=jsonl("operations.jsonl"),
        faults=jsonl("faults.jsonl"),
        events=jsonl("docker_events.jsonl"),
        requests=meta["requests"],
        final=meta["final"],
        max_attempts=meta["max_attempts"],
        volumes_before=meta["volumes_before"],
        volumes_after=meta["volumes_after"],
    )


def main() -> int:
    folder = Path(sys.argv[1])
    ev = load(folder)
    bad = 0
    for name, problems in check(ev).items():
        print(("FAIL " if problems else "ok   ") + name)
        for p in problems:
            print("     " + p)
        bad += len(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
