"""Child process that runs one strategy (see healer.adapters.plugins.strategies for why a process).

Reads a RunRequest as JSON on stdin; the strategy's log goes to stderr, which the worker
relays to its own log. Exit 0: the strategy returned. Exit 1: the last stdout line is
`{"error": "..."}` saying why it failed.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback

from healer.adapters.docker.engine import docker_client
from healer.adapters.plugins.strategies import GROUP, StrategyContext, discover, load_error


def _fail(message: str) -> int:
    print(json.dumps({"error": message}), file=sys.__stdout__, flush=True)
    return 1


def main() -> int:
    req = json.loads(sys.stdin.read())
    sys.stdout = sys.stderr  # a strategy's prints are log lines; stdout carries the verdict
    name = req["action"]
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    found = [p for p in discover() if p.name == name]
    if not found:
        return _fail(f"no strategy named {name!r} is installed (entry point group {GROUP})")
    if found[0].error:
        return _fail(f"strategy {name!r}: {found[0].error}")
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group=GROUP) if e.name == name]
    problem = load_error(ep)
    if problem:
        return _fail(f"strategy {name!r} ({found[0].origin}) {problem}")
    ctx = StrategyContext(
        service=req["service"],
        container_ids=list(req["container_ids"]),
        condition=req["condition"],
        docker=docker_client(req.get("docker_host")),
        log=logging.getLogger(f"healer.strategy.{name}"),
        action=name,
        detail=req.get("detail", ""),
        attempt=int(req.get("attempt", 0)),
    )
    try:
        ep.load()(ctx)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are failures too
        traceback.print_exc(file=sys.stderr)
        return _fail(f"strategy {name!r} failed: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
