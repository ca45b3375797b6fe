"""`healer run`: the healer for one host as one supervised process, restarted if it dies,
stopped on Ctrl-C.

The child is the compose deployment's worker command plus `--embed beat,events,api`: the
worker runs beat, the events watcher and the API as threads (workers/embedded.py) with the
same code the compose roles run as containers. Repairs run on Celery's threads pool, so a
hung Docker call holds one thread of many (and ends at HEALER_DOCKER_TIMEOUT), not the host.

This module is the parent of that tree and stays small: it imports only the standard
library (no Celery, FastAPI, pydantic or docker), so it costs a bare interpreter. Settings
are validated by `healer run` before it execs into `python -m healer.supervisor`, and read
again by the child.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from healer.core.queues import QUEUES

log = logging.getLogger("healer.run")

EMBEDDED = "beat,events,api"


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = field(default=0.0)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv)
        self.started_at = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.proc.pid)


def commands(workers: int | None = None) -> list[Child]:
    """The supervised children; `workers` overrides HEALER_WORKER_CONCURRENCY."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "-E",
        "--loglevel",
        "INFO",
        "-Q",
        ",".join(QUEUES),
        "-n",
        f"healer-{os.getpid()}@%h",
        "--embed",
        EMBEDDED,
    ]
    if workers:
        argv += ["-c", str(workers)]
    return [Child("worker", argv)]


def run_all(workers: int | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s healer-run %(message)s")
    children = commands(workers)
    stopping = False

    def on_signal(signum: int, _: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for c in children:
        c.start()
    while not stopping:
        time.sleep(0.5)
        _supervise(children)
    _stop_all(children)
    return 0


def _supervise(children: list[Child]) -> None:
    now = time.monotonic()
    for c in children:
        if c.proc is not None and c.proc.poll() is None:
            continue
        if c.proc is not None:
            code = c.proc.returncode
            # Crash-looping children back off like the containers we heal.
            uptime = now - c.started_at
            c.restarts = 0 if uptime > 60 else c.restarts + 1
            c.next_start = now + min(2.0**c.restarts, 30.0)
            log.warning("%s exited with %s; restarting in %.0fs", c.name, code, c.next_start - now)
            c.proc = None
        if now >= c.next_start:
            c.start()


def _stop_all(children: list[Child], grace: float = 15.0) -> None:
    for c in children:
        if c.proc is not None and c.proc.poll() is None:
            c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for c in children:
        if c.proc is None:
            continue
        try:
            c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs; killing pid %d", c.name, grace, c.proc.pid)
            c.proc.kill()
            c.proc.wait()
    log.info("all roles stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m healer.supervisor")
    parser.add_argument("--workers", type=int, default=None, help="tasks run at once")
    args = parser.parse_args(argv)
    sys.exit(run_all(args.workers))


if __name__ == "__main__":
    main()
