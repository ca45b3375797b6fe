"""`healer run`: the healer for one host as one supervised process, restarted if it dies,
stopped on Ctrl-C.

The child is the compose deployment's worker command plus `--embed beat,events,api`: the
worker runs beat, the events watcher and the API as threads (workers/embedded.py) with the
same code the compose roles run as containers. Repairs run on Celery's threads pool, so a
hung Docker call holds one thread of many (and ends at HEALER_DOCKER_TIMEOUT), not the host.
`healer run --agent` embeds only the events watcher: a worker and a watcher for this host
(HEALER_HOST) that join a cluster whose beat and API run elsewhere.

This module is the parent of that tree and stays small: it imports only the standard
library (no Celery, FastAPI, pydantic or docker), so it costs a bare interpreter. Settings
are validated by `healer run` before it execs into `python -m healer.supervisor`, and read
again by the child.

The child dies with the supervisor even when it is killed outright (SIGKILL): a host whose
agent is gone must stop heartbeating, or the cluster would not see it as host_down.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from healer.core.queues import QUEUES, host_queues

log = logging.getLogger("healer.run")

EMBEDDED = "beat,events,api"
# An agent serves its host only: the cluster's one beat and its API run elsewhere.
AGENT_EMBEDDED = "events"
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = field(default=0.0)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.proc.pid)


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the child when the supervisor dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: children outlive a killed supervisor
        pass


def commands(workers: int | None = None, host: str = "", agent: bool = False) -> list[Child]:
    """The supervised children; `workers` overrides HEALER_WORKER_CONCURRENCY, `host` is
    HEALER_HOST as `healer run` validated it (the worker adds its host's queues anyway)."""
    queues = (*QUEUES, *host_queues(host)) if host else QUEUES
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
        ",".join(queues),
        "-n",
        f"healer-{host + '-' if host else ''}{os.getpid()}@%h",
        # Gossip would have every worker of the cluster receive every other worker's event
        # heartbeat (traffic growing with hosts squared); mingle asks all of them at start.
        # The healer uses neither.
        "--without-gossip",
        "--without-mingle",
        "--embed",
        AGENT_EMBEDDED if agent else EMBEDDED,
    ]
    if workers:
        argv += ["-c", str(workers)]
    return [Child("worker", argv)]


def run_all(workers: int | None = None, host: str = "", agent: bool = False) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s healer-run %(message)s")
    children = commands(workers, host, agent)
    roles = AGENT_EMBEDDED if agent else EMBEDDED
    log.info("host %s: running the worker with %s", host or "(this machine)", roles)
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
    parser.add_argument("--host", default="", help="HEALER_HOST (validated by healer run)")
    parser.add_argument(
        "--agent", action="store_true", help="only this host's worker and events watcher"
    )
    args = parser.parse_args(argv)
    sys.exit(run_all(args.workers, host=args.host, agent=args.agent))


if __name__ == "__main__":
    main()
