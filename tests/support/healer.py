"""Runs the real healer roles (Celery worker, events watcher, API, beat) as child processes
against the tests' Redis database and the real Docker engine, and stops them by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from healer.core.model import HostId, RepairRequest, ServiceId, Source

from .waiting import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
# `healer` commands that only read Redis and the engine: safe to run in the test's process.
READ_ONLY_COMMANDS = frozenset({"status", "history", "report", "hosts"})


@dataclass
class HealerStack:
    env: dict[str, str]
    log_dir: Path
    root: Path = ROOT  # the source tree the roles run from (a benchmark's baseline: another)
    api_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: dict[str, Path] = field(default_factory=dict)

    def start(self, role: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.log_dir / f"{role}.out"
        self._logs[role] = log
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[role] = proc
        return proc

    def worker(self, name: str = "w1", concurrency: int | None = 4) -> subprocess.Popen[bytes]:
        """`concurrency` None: HEALER_WORKER_CONCURRENCY or the pool's default decides."""
        proc = self.start(
            f"worker-{name}",
            [
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
                "healer.probe,healer.repair,healer.scale",
                *(["-c", str(concurrency)] if concurrency else []),
                "-n",
                f"{name}-{os.getpid()}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
        )
        r = redis.Redis.from_url(self.env["REDIS_URL"])
        # A worker is ready once it answers a ping over the broker.
        from celery import Celery

        app = Celery(broker=self.env["REDIS_URL"], backend=self.env["REDIS_URL"])
        wait_until(
            lambda: bool(
                app.control.ping(
                    timeout=0.5, destination=[f"{name}-{os.getpid()}@" + os.uname().nodename]
                )
            ),
            timeout=60,
            message=f"worker {name} did not answer a ping:\n" + self.tail(),
        )
        r.close()
        return proc

    def events(self) -> subprocess.Popen[bytes]:
        r = redis.Redis.from_url(self.env["REDIS_URL"])
        # keys.heartbeat("events", host): the host is HEALER_HOST, by default the hostname.
        beat = f"healer:heartbeat:events:{self.env.get('HEALER_HOST') or socket.gethostname()}"
        r.delete(beat)
        proc = self.start("events", [sys.executable, "-m", "beat.events"])
        # The watcher's first heartbeat is written once its event stream is open.
        wait_until(
            lambda: r.exists(beat),
            timeout=30,
            message="the events watcher's heartbeat:\n" + self.tail(),
        )
        r.close()
        return proc

    def beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        return self.start(
            name,
            [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO"],
        )

    def api(self) -> str:
        port = free_port()
        self.start(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "healer.api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
        )
        self.api_url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: _answers(self.api_url + "/healthz"),
            timeout=30,
            message="API did not come up:\n" + self.tail(),
        )
        return self.api_url

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "healer", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"healer {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def read(self, *args: str) -> str:
        """The stdout of ``healer <args>`` for a command that only reads (status, history,
        report, hosts), run in this process: the CLI's own code under this stack's
        environment, without starting an interpreter (1-3 s each on a loaded 2-core host).
        Commands that change something, or test the entry point itself, go through cli()."""
        if not args or args[0] not in READ_ONLY_COMMANDS:
            raise ValueError(f"healer {args[:1]}: read() runs only {sorted(READ_ONLY_COMMANDS)}")
        from typer.testing import CliRunner  # local: only tests that read need the CLI

        from healer.cli import app

        result = CliRunner().invoke(app, list(args), env=self.env, catch_exceptions=False)
        if result.exit_code != 0:
            raise AssertionError(
                f"healer {' '.join(args)} failed ({result.exit_code}):\n{result.output}"
            )
        return result.stdout

    def read_json(self, *args: str) -> Any:
        """``healer <args> --json``, parsed (see read())."""
        return json.loads(self.read(*args, "--json"))

    def history(self, service: str | None = None, *more: str) -> list[dict[str, Any]]:
        """`healer history [--service S] --json`: the decisions, newest first."""
        args = ["history", *(["--service", service] if service else []), *more]
        body: dict[str, Any] = self.read_json(*args)  # the API's body: entries and `next`
        return list(body["entries"])

    def status(self) -> dict[str, Any]:
        """`healer status --json`: services, hosts and recoveries."""
        data: dict[str, Any] = self.read_json("status")
        return data

    def kill(self, role: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(role)
        _stop(proc, sig)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            _stop(proc, signal.SIGTERM)
        self.procs.clear()

    def discard(self) -> None:
        """Kill every role at once (SIGKILL), and what each started in a session of its own
        (a strategy plugin's runner): a stack thrown away at teardown has nothing to shut
        down gracefully, and a worker's warm shutdown costs 1-2 s per stack."""
        for proc in self.procs.values():
            if proc.poll() is None:
                _kill_tree(proc.pid)
            proc.wait()
        self.procs.clear()

    def tail(self, lines: int = 40) -> str:
        out = []
        for role, path in self._logs.items():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {role} ---\n" + "\n".join(text))
        return "\n".join(out)

    def decision_log(self) -> str:
        path = self.log_dir / "auto_repair.log"
        return path.read_text() if path.exists() else ""


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)  # the worker's pool children are in its session
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _kill_tree(pid: int) -> None:
    """SIGKILL the process group of ``pid`` and every descendant, wherever its group."""
    pids = _descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    for child in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                kids = [int(c) for c in task.read_text().split()]
                found += kids
                todo += kids
    return found


HealerFactory = Callable[..., HealerStack]


class NoDispatch:
    """A dispatcher for in-process healers whose follow-up work (re-probes, repairs, scale
    and cleanup tasks) is not part of the test: nothing is enqueued."""

    def repair(self, request: RepairRequest, countdown: float = 0) -> str:
        return ""

    def probe(self, sid: ServiceId, countdown: float = 0, host: HostId | None = None) -> None:
        return None

    def probe_all(self, host: HostId | None = None) -> None:
        return None

    def cleanup(self, source: Source, request_id: str, host: HostId | None = None) -> None:
        return None

    def scale(
        self,
        sid: ServiceId,
        replicas: int,
        source: Source,
        request_id: str,
        host: HostId | None = None,
        force: bool = False,
    ) -> str:
        return ""
