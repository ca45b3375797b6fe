"""A private Docker engine beside the host's, for tests that restart (or lose) an engine.

The host's engine (/var/run/docker.sock) runs everyone's tests, so it is never restarted.
:class:`PrivateEngine` starts a second ``dockerd`` with its own socket, data root, exec root
(and so its own containerd), pid file and config, no bridge and no iptables rules, so it
touches nothing of the host's engine. Point a healer at it with ``DOCKER_HOST=engine.url``
and compose with ``DOCKER_HOST`` in its environment. Test stacks use ``network_mode: host``
or ``none``: the engine has no bridge network.

Tear-down removes its containers, stops the daemon by its PID, kills any containerd shim it
left (found by its own exec root, so never another engine's), unmounts what is still mounted
under its folders and removes them.
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

DOCKERD = "dockerd"


class PrivateEngine:
    """``url``/``client`` reach it; ``restart()`` is an engine restart as a host sees it."""

    def __init__(self, name: str = "engine") -> None:
        # Short, under /tmp: containerd's socket lives under the exec root and a unix
        # socket path must stay below 108 bytes (pytest's tmp_path can be longer).
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
        self.restarts = 0

    # --- lifecycle ---------------------------------------------------------------------

    def argv(self) -> list[str]:
        return [
            DOCKERD,
            "--host",
            self.url,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.pidfile),
            # Not /etc/docker/daemon.json: the host's settings (hosts, bridge) would clash.
            "--config-file",
            str(self.config),
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ]

    def start(self, timeout: float = 60.0) -> float:
        """Start the daemon; returns the wall time at which its API answered."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.url}: already running (pid {self.proc.pid})")
        for folder in (self.data_root, self.exec_root):
            folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps({}))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._client = None
        wait_until(
            self._answers,
            timeout=timeout,
            interval=0.05,
            message=f"private dockerd at {self.url} to answer:\n{self.tail()}",
        )
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
        self._close_client()
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)

    def restart(self, timeout: float = 60.0) -> float:
        """Stop and start again on the same data root; returns when the API answered."""
        self.stop(timeout)
        self.restarts += 1
        return self.start(timeout)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def client(self) -> docker.DockerClient:
        """A client of this engine; a new one after every restart (pooled sockets die)."""
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.url, timeout=60)
        return self._client

    def new_client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=60)

    def _close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None

    def env(self) -> dict[str, str]:
        """Environment for the docker CLI, compose or a healer role aimed at this engine."""
        return {"DOCKER_HOST": self.url}

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no dockerd log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    # --- content -----------------------------------------------------------------------

    def load_image(self, tag: str) -> None:
        """Copy an image of the host's engine into this one (no registry here)."""
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "-H", self.url, "load"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if save.stdout is not None:
            save.stdout.close()
        save.wait(timeout=60)
        if save.returncode != 0 or load.returncode != 0:
            raise RuntimeError(f"copying {tag} into {self.url} failed: {load.stderr}")

    # --- tear-down ---------------------------------------------------------------------

    def close(self) -> list[str]:
        """Remove everything; returns what could not be cleaned (empty when all went)."""
        problems: list[str] = []
        if self.pid is not None:
            problems += self._remove_containers()
        self.stop()
        problems += self._kill_shims()
        problems += self._unmount()
        try:
            shutil.rmtree(self.root)
        except OSError as exc:
            problems.append(f"rm -rf {self.root}: {exc}")
        return problems

    def _remove_containers(self) -> list[str]:
        problems = []
        try:
            for c in self.client.containers.list(all=True):
                try:
                    c.remove(force=True, v=True)
                except docker.errors.APIError as exc:
                    problems.append(f"container {c.name}: {exc}")
        except docker.errors.DockerException as exc:
            problems.append(f"listing containers of {self.url}: {exc}")
        return problems

    def _kill_shims(self) -> list[str]:
        """A daemon that died hard leaves shims (and their containers) running; ours are the
        ones whose command line names our exec root."""
        mine = str(self.exec_root)
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "containerd-shim" in cmdline and mine in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(entry.name)
        return [f"killed leftover shims {killed}"] if killed else []

    def _unmount(self) -> list[str]:
        root = str(self.root)
        mounts = [
            line.split()[1].replace("\\040", " ")
            for line in Path("/proc/mounts").read_text().splitlines()
            if len(line.split()) > 1 and line.split()[1].startswith(root)
        ]
        problems = []
        for target in sorted(mounts, key=len, reverse=True):  # deepest first
            done = subprocess.run(["umount", target], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                lazy = subprocess.run(["umount", "-l", target], capture_output=True, check=False)
                if lazy.returncode != 0:
                    problems.append(f"umount {target}: {done.stderr.strip()}")
        return problems
