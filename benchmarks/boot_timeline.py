"""Ordered recovery after an engine restart, as a timeline: a three-tier project on a private
dockerd (never the host's engine) restarted twice, without the healer and with it.

    python -m benchmarks.boot_timeline [--redis-url redis://127.0.0.1:6379/11]
        [--json benchmarks/results/boot_timeline.json]

The project is tests/e2e/test_boot_order.py's: db takes 8 s to pass its healthcheck, migrate
(`service_completed_successfully`) exits 0 after 1 s, app depends on both (with `restart:
true` on db), worker on app being healthy (label `healer.boot.order: strict`). Records each
service's start, exit, stop and healthy events, in seconds after the engine answered again,
for both restarts. Needs root (a second dockerd). Removes the engine and its folders at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import redis

from tests.e2e.test_boot_order import _compose_yaml
from tests.support import (
    ComposeProject,
    FollowingEventRecorder,
    PrivateEngine,
    ensure_test_image,
    unique_project_name,
    wait_until,
)
from tests.support.healer import HealerStack

SERVICES = ("db", "migrate", "app", "worker")
ACTIONS = ("start", "die", "stop", "health_status: healthy")
DEADLINE = 120


def timeline(rec: FollowingEventRecorder, mark_ns: int, back_s: float) -> list[dict[str, Any]]:
    out = []
    for service in SERVICES:
        for action in ACTIONS:
            for e in rec.events(action, service):
                if e["time_ns"] >= mark_ns:
                    code = e["attributes"].get("exitCode")
                    out.append(
                        {
                            "service": service,
                            "action": action,
                            "exit": code,
                            "t": e["time_ns"] / 1e9 - back_s,
                        }
                    )
    return sorted(out, key=lambda e: e["t"])


def restart_and_record(engine: PrivateEngine, project: str, settle: float) -> list[dict[str, Any]]:
    rec = FollowingEventRecorder(engine.new_client, project)
    mark = time.time_ns()
    back = engine.restart()
    time.sleep(settle)
    rec.stop()
    return timeline(rec, mark, back)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    ap.add_argument("--settle", type=float, default=30.0, help="seconds recorded after a restart")
    ap.add_argument("--json", type=Path, help="also write both timelines here")
    args = ap.parse_args()
    image, _ = ensure_test_image(docker.from_env())
    r = redis.Redis.from_url(args.redis_url, decode_responses=True)
    r.flushdb()
    engine, name = PrivateEngine("bootbench"), unique_project_name("boot")
    folder = Path(tempfile.mkdtemp())
    (folder / "compose.yaml").write_text(_compose_yaml(image))
    stack: HealerStack | None = None
    try:
        engine.start()
        engine.load_image(image)
        project = ComposeProject(
            name=name,
            dir=folder,
            file=folder / "compose.yaml",
            client=engine.client,
            env=engine.env(),
        )
        project.up(wait=True, timeout=DEADLINE)
        without = restart_and_record(engine, name, args.settle)
        stack = HealerStack(
            env={
                **os.environ,
                "REDIS_URL": args.redis_url,
                "HEALER_PROJECTS": name,
                "DOCKER_HOST": engine.url,
                "WATCHDOG_INTERVAL": "1",
                "HEALER_BOOT_POLL_INTERVAL": "0.2",
                "HEALER_RESOURCE_MONITORING": "false",
                "HEALER_LOG_DIR": str(folder / "logs"),
                "PYTHONUNBUFFERED": "1",
            },
            log_dir=folder,
        )
        stack.worker("w1", concurrency=2)
        stack.events()
        stack.beat()
        host = os.environ.get("HEALER_HOST") or socket.gethostname()
        wait_until(
            lambda: (
                len(r.hgetall(f"healer:boot:intent:{host}/{name}")) == 3
                and r.exists(f"healer:boot:engine_alive:{host}")
            ),
            timeout=60,
            message="the healer to learn what runs",
        )
        with_healer = restart_and_record(engine, name, args.settle)
    finally:
        if stack is not None:
            stack.stop_all()
        problems = engine.close()
        if problems:
            print("private engine teardown:", problems)
    for label, events in (("without the healer", without), ("with the healer", with_healer)):
        print(f"--- {label}")
        for e in events:
            print(f"{e['t']:7.2f}s  {e['service']:8} {e['action']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"benchmark": "boot_timeline", "without": without, "with": with_healer})
        )


if __name__ == "__main__":
    main()
