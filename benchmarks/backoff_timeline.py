"""The restart policy on a real crash loop: when the healer starts a service that exits again
every time, and when it gives up.

    python -m benchmarks.backoff_timeline [--cooldown 2] [--attempts 4] [--seconds 60]
        [--redis-url redis://127.0.0.1:6379/13] [--json benchmarks/results/backoff_timeline.json]

One service of the busybox test image exits 1 a second after each start (`restart: "no"`, so
only the healer starts it). The real worker, events watcher and beat run with
RESTART_COOLDOWN=--cooldown and MAX_RESTART_ATTEMPTS=--attempts. Prints each `die` and
`start` of the container (seconds after the first die) and the healer's decisions; the JSON
feeds `benchmarks/plots.py`. Removes the project and the healer processes at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import docker
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import (  # noqa: E402
    ComposeProject,
    EventRecorder,
    compose_yaml,
    ensure_test_image,
    healthy_service_yaml,
    unique_project_name,
)
from tests.support.healer import HealerStack  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cooldown", type=float, default=2.0, help="RESTART_COOLDOWN, s")
    ap.add_argument("--attempts", type=int, default=4, help="MAX_RESTART_ATTEMPTS")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to watch")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    ap.add_argument("--json", type=Path, help="also write the timeline here")
    args = ap.parse_args()
    client = docker.from_env()
    image, _ = ensure_test_image(client)
    redis.Redis.from_url(args.redis_url).flushdb()
    name, tmp = unique_project_name("backoff"), Path(tempfile.mkdtemp())
    service = healthy_service_yaml(image, "flaky", 'restart: "no"', command="sleep 1; exit 1")
    (tmp / "compose.yml").write_text(compose_yaml(service))
    project = ComposeProject(name=name, dir=tmp, file=tmp / "compose.yml", client=client)
    env = {
        **os.environ,
        "REDIS_URL": args.redis_url,
        "HEALER_PROJECTS": name,
        "RESTART_COOLDOWN": str(args.cooldown),
        "MAX_RESTART_ATTEMPTS": str(args.attempts),
        "HEALER_LOG_DIR": str(tmp / "logs"),
        "PYTHONUNBUFFERED": "1",
    }
    stack = HealerStack(env=env, log_dir=tmp)
    try:
        stack.worker()
        stack.events()
        stack.beat()
        time.sleep(3)  # the watcher subscribed before the first failure
        rec = EventRecorder(client, name)
        project.up()
        time.sleep(args.seconds)
        rec.stop()
        history = json.loads(stack.cli("history", "--service", f"{name}/flaky", "--json").stdout)
    finally:
        stack.stop_all()
        project.down()
    dies = [e["time_ns"] for e in rec.events("die", "flaky")]
    t0 = min(dies) if dies else rec.started_ns
    timeline = [
        {"t": (e["time_ns"] - t0) / 1e9, "action": action}
        for action in ("die", "start")
        for e in rec.events(action, "flaky")
    ]
    timeline.sort(key=lambda e: e["t"])
    for e in timeline:
        print(f"{e['t']:7.2f}s  {e['action']}")
    outcomes = [(d.get("outcome"), d.get("reason", "")) for d in history]
    print("decisions:", ", ".join(f"{o}" for o, _ in outcomes))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "backoff_timeline",
                    "cooldown": args.cooldown,
                    "attempts": args.attempts,
                    "timeline": timeline,
                    "decisions": [
                        {"t": (float(d.get("ts", 0)) * 1e9 - t0) / 1e9, **d} for d in history
                    ],
                }
            )
        )


if __name__ == "__main__":
    main()
