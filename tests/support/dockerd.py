"""A private second Docker engine for tests: its own dockerd beside the machine's one.

Own socket, data root, exec root and pidfile under one temporary folder; no bridge and no
iptables rules, so it cannot disturb the main engine's networking. The test image is copied
in with `docker save | docker load` (nothing can be pulled). `stop()` ends it by PID,
unmounts whatever it left mounted under its folder, and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from .waiting import wait_until


class PrivateEngine:
    def __init__(self, name: str = "b") -> None:
        if not shutil.which("dockerd"):
            raise RuntimeError("dockerd is not installed (apt-get install docker.io)")
        # Short path: a unix socket path must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix=f"hd{name}-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.log = self.root / "dockerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: docker.DockerClient | None = None

    def start(self, timeout: float = 60) -> PrivateEngine:
        argv = [
            "dockerd",
            f"--host={self.url}",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'docker.pid'}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            f"--cgroup-parent={self.root.name}",
            "--log-level=warn",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(
            self._answers,
            timeout=timeout,
            message=f"private dockerd did not answer on {self.url}:\n{self.tail()}",
        )
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"private dockerd exited ({self.proc.returncode}):\n{self.tail()}")
        try:
            return bool(self.client.ping())
        except (docker.errors.DockerException, OSError):
            return False

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.url, timeout=120)
        return self._client

    def load_image(self, tag: str) -> None:
        """Copy an image from the main engine: `docker save TAG | docker -H … load`."""
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        try:
            load = subprocess.run(
                ["docker", "-H", self.url, "load"],
                stdin=save.stdout,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            if save.stdout is not None:
                save.stdout.close()
            save.wait(timeout=60)
        if save.returncode != 0 or load.returncode != 0:
            raise AssertionError(f"loading {tag} into {self.url} failed: {load.stderr}")

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 30) -> None:
        """Stop containers, then dockerd by PID; unmount and remove everything it left."""
        if self._client is not None:
            with contextlib.suppress(docker.errors.DockerException, OSError):
                for c in self._client.containers.list(all=True):
                    c.remove(force=True, v=True)
            self._client.close()
            self._client = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._kill_leftovers()
        self._unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        # dockerd's own containerd (and shims) live under the exec root; anything still there
        # after dockerd ended is ours alone.
        marker = str(self.root)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = [p for p in _pids() if marker in _cmdline(p)]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

    def _unmount_all(self) -> None:
        # Deepest first; lazy unmount so a busy mount cannot keep the folder.
        for point in sorted(_mounts_under(self.root), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root)
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            point = line.split()[1].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                out.append(point)
    return out


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")
