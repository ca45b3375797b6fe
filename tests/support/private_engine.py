"""A private Docker engine for tests that restart an engine: its own dockerd (own socket,
data root, exec root, pid file, no bridge, no iptables), started and stopped by its PID.
The host's engine runs everyone's tests and is never restarted.

Same shape as the `boot` branch's tests/support/dockerd.py (PrivateEngine: url, client,
start/stop/restart, load_image, close) so the two can be merged into one fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import docker.errors

from .waiting import wait_until


class PrivateEngine:
    def __init__(self, name: str = "engine") -> None:
        # Short and under /tmp: containerd's socket must stay below 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix=f"chtest-{name}-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.pidfile = self.root / "docker.pid"
        self.log = self.root / "dockerd.log"
        self.config = self.root / "daemon.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: docker.DockerClient | None = None

    def argv(self) -> list[str]:
        return [
            "dockerd",
            "--host", self.url,
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "--config-file", str(self.config),  # not /etc/docker/daemon.json: the host's
            "--bridge", "none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> float:
        for folder in (self.data_root, self.exec_root):
            folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps({}))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        self._client = None
        wait_until(self._answers, timeout=timeout, message=f"dockerd at {self.url}:\n{self.tail()}")
        return time.time()

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"dockerd exited with {self.proc.returncode}:\n{self.tail()}")
        try:
            return bool(self.client.ping())
        except (docker.errors.DockerException, OSError):
            self._client = None
            return False

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM by PID, as systemd stops it: the daemon stops its containers first."""
        proc, self.proc = self.proc, None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)

    def restart(self, timeout: float = 60.0) -> float:
        self.stop(timeout)
        return self.start(timeout)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.url, timeout=60)
        return self._client

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.url}

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no dockerd log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def load_image(self, tag: str) -> None:
        """Copy an image of the host's engine in (there is no registry)."""
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "-H", self.url, "load"], stdin=save.stdout, capture_output=True,
            text=True, timeout=300, check=False,
        )  # fmt: skip
        if save.stdout is not None:
            save.stdout.close()
        save.wait(timeout=60)
        if save.returncode != 0 or load.returncode != 0:
            raise RuntimeError(f"copying {tag} into {self.url} failed: {load.stderr}")

    def close(self) -> list[str]:
        """Remove everything it made; returns what could not be cleaned."""
        problems: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(docker.errors.DockerException):
                for c in self.client.containers.list(all=True):
                    c.remove(force=True, v=True)
        self.stop()
        problems += self._kill_shims()
        problems += self._unmount()
        try:
            shutil.rmtree(self.root)
        except OSError as exc:
            problems.append(f"rm -rf {self.root}: {exc}")
        return problems

    def _kill_shims(self) -> list[str]:
        """Shims left by a daemon that died hard: ours name our exec root."""
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "containerd-shim" in cmdline and str(self.exec_root) in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(entry.name)
        return [f"killed leftover shims {killed}"] if killed else []

    def _unmount(self) -> list[str]:
        root = str(self.root)
        mounts = [
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if len(line.split()) > 1 and line.split()[1].startswith(root)
        ]
        problems = []
        for target in sorted(mounts, key=len, reverse=True):
            done = subprocess.run(["umount", "-l", target], capture_output=True, text=True)
            if done.returncode != 0:
                problems.append(f"umount {target}: {done.stderr.strip()}")
        return problems
