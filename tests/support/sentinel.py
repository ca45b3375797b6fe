"""A Redis Sentinel cluster on loopback for failover tests: one master, replicas and
sentinels, all real `redis-server` processes (`--sentinel` for the sentinels), each in its
own folder, started by the test and stopped by its PID. Ports are fixed per cluster (the
caller's range) because sentinels announce the addresses they were configured with."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .waiting import wait_until

MASTER_NAME = "mymaster"
# Small on loopback: a dead master is noticed after 1 s, a failover retried after 6 s.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 6000


class SentinelCluster:
    def __init__(self, redis_ports: list[int], sentinel_ports: list[int]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chtest-sentinel-"))
        self.redis_ports = redis_ports
        self.sentinel_ports = sentinel_ports
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """REDIS_URL in kombu's Sentinel form."""
        return ";".join(f"sentinel://127.0.0.1:{p}" for p in self.sentinel_ports) + "/0"

    def start(self) -> None:
        master = self.redis_ports[0]
        for port in self.redis_ports:
            self.start_redis(port, replica_of=None if port == master else master)
        for port in self.sentinel_ports:
            self._start(
                port, ["redis-server", str(self._sentinel_conf(port, master)), "--sentinel"]
            )
        wait_until(self._settled, timeout=30, message="sentinels did not see the whole cluster")
        wait_until(lambda: self.good_replicas() == len(self.redis_ports) - 1, timeout=30)

    def start_redis(self, port: int, replica_of: int | None) -> None:
        argv = [
            "redis-server",
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(self._folder(port)),
            "--save", "",
            "--appendonly", "no",
            # A master without a replica in 10 s refuses writes (the HA profile's setting).
            "--min-replicas-to-write", "1",
            "--min-replicas-max-lag", "10",
        ]  # fmt: skip
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._start(port, argv)

    def master(self) -> int:
        """The master's port, as the first sentinel that answers sees it."""
        for port in self.sentinel_ports:
            if port not in self.procs:
                continue
            try:
                with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as s:
                    return int(s.sentinel_get_master_addr_by_name(MASTER_NAME)[1])
            except redis.RedisError:
                continue
        raise AssertionError("no sentinel answers")

    def kill9(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def wait_for_failover(self, old: int, timeout: float = 30) -> tuple[int, float]:
        """(the new master's port, seconds the sentinels took to promote it)."""
        start = time.monotonic()
        wait_until(lambda: self.master() != old, timeout=timeout, interval=0.1)
        return self.master(), time.monotonic() - start

    def good_replicas(self) -> int:
        """Replicas the master counts for min-replicas-to-write (online, lag in bounds)."""
        with redis.Redis(port=self.master(), socket_timeout=1) as r:
            return int(r.info("replication").get("min_slaves_good_slaves", 0))

    def close(self) -> None:
        for port in list(self.procs):
            proc = self.procs.pop(port)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _start(self, port: int, argv: list[str]) -> None:
        log = self._folder(port) / "out.log"
        with log.open("ab") as out:
            self.procs[port] = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = redis.Redis(port=port, socket_connect_timeout=1)
        wait_until(client.ping, timeout=20, ignore=(redis.ConnectionError,), message=f":{port}")
        client.close()

    def _folder(self, port: int) -> Path:
        folder = self.dir / str(port)
        folder.mkdir(exist_ok=True)
        return folder

    def _sentinel_conf(self, port: int, master: int) -> Path:
        conf = self._folder(port) / "sentinel.conf"  # sentinels rewrite their own file
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self._folder(port)}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        return conf

    def _settled(self) -> bool:
        """Every sentinel knows every replica and the other sentinels."""
        for port in self.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as s:
                info = s.sentinel_master(MASTER_NAME)
                if int(info["num-slaves"]) < len(self.redis_ports) - 1:
                    return False
                if int(info["num-other-sentinels"]) < len(self.sentinel_ports) - 1:
                    return False
        return True
