"""A private redis-server for tests that kill or restart Redis (the shared one on 6379 is
never touched): own port on 127.0.0.1, own folder, AOF on, stopped by its PID."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import redis

from .waiting import free_port, wait_until


class RedisServer:
    def __init__(self, appendfsync: str = "always") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chtest-redis-"))
        self.port = free_port()
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv(), start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        wait_until(
            lambda: client.ping(),
            timeout=30,
            ignore=(redis.ConnectionError, redis.BusyLoadingError),
            message=f"redis-server on port {self.port}",
        )
        client.close()

    def kill9(self) -> None:
        """The crash: no shutdown save, only what the AOF already holds survives."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def restart(self, hard: bool = False) -> None:
        self.kill9() if hard else self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _signal(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
