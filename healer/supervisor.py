"""`healer run`: every role as a child process, restarted if it dies, all stopped on Ctrl-C.

For a single host without the compose deployment; each child is the same command the
compose file runs, so behaviour does not differ between the two ways of running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from healer.adapters.docker_engine import DockerEngine, EngineError
from healer.core.queues import QUEUES
from healer.settings import Settings

log = logging.getLogger("healer.run")


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


def commands(s: Settings, workers: int | None) -> list[Child]:
    py = sys.executable
    concurrency = str(workers or s.worker_concurrency)
    return [
        Child(
            "worker",
            [
                py,
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
                "-c",
                concurrency,
                "-n",
                f"healer-{os.getpid()}@%h",
            ],
        ),
        Child("beat", [py, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO"]),
        Child("events", [py, "-m", "beat.events"]),
        Child(
            "api",
            [
                py,
                "-m",
                "uvicorn",
                "--factory",
                "healer.api.app:create_app",
                "--host",
                s.api_host,
                "--port",
                str(s.api_port),
            ],
        ),
    ]


def run_all(s: Settings, workers: int | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s healer-run %(message)s")
    children = commands(s, workers)
    stopping = False

    def on_signal(signum: int, _: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    engine = DockerEngine.connect(s.docker_host, s.project_list)
    if not wait_for_engine(engine.ping, lambda: stopping):
        return 0
    for c in children:
        c.start()
    while not stopping:
        time.sleep(0.5)
        _supervise(children)
    _stop_all(children)
    return 0


def wait_for_engine(
    ping: Callable[[], None],
    stopping: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
    max_delay: float = 30.0,
) -> bool:
    """Block until the Docker engine answers (True) or we are asked to stop (False).

    Says once, in one line, which engine is unreachable and why, then retries with doubling
    delays: the roles would only crash and restart against an absent engine."""
    delay = 1.0
    said = False
    while not stopping():
        try:
            ping()
        except EngineError as exc:
            if not said:  # once: the reason may change wording between tries, not its meaning
                log.warning(
                    "%s; waiting for it (retrying with backoff up to %.0fs)", exc, max_delay
                )
                said = True
            sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        if said:
            log.warning("Docker engine is reachable again; starting the roles")
        return True
    return False


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
