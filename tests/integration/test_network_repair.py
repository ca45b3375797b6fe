"""Condition 7 (network errors) repaired by the real healer (worker + beat): a container whose
interface error/drop counters climb faster than the threshold for the (shortened) window is
restarted once — asserted on Docker's own events, the healer's Redis state and its history.

What is simulated, and why: only the network *counters*. Real rx/tx errors or drops need a
faulty link or a peer to flood, and these tests may talk only to 127.0.0.1 and to containers
they started (the service runs with ``network_mode: none``, so it has no interface but ``lo``,
whose counters the healer ignores). So HEALER_PROC_ROOT points at a temporary mirror of the
host's /proc for this container's pids only: ``<mirror>/<pid>/cgroup`` is a copy of the real
``/proc/<pid>/cgroup`` (so the collector's check that the pid belongs to the container holds),
and ``<mirror>/<pid>/net/dev`` is written in the real /proc/net/dev format (``lo`` and
``eth0``) by a background thread every 0.2 s, eth0's rx errs + drop rising by ~50/s once the
test says so. Everything else is real: the container, the pids the collector takes from the
container's cgroup.procs under the real cgroup tree, its CPU/memory sample, the reconcile
probe, the windows in Redis, the guard, the ``docker restart`` and its events. The restarted
container has new pids the mirror does not cover, so its network counters are unknown and
the rule cannot fire again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis

from healer.adapters.docker.cgroups import cgroup_version, find_cgroup
from healer.adapters.store import keys
from healer.core.model import ContainerId
from healer.core.resources import parse_net_dev
from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory, HealerStack
from tests.support.waiting import wait_for_reconciles

CGROUP_ROOT = Path("/sys/fs/cgroup")
HOST_PROC = Path("/proc")
RATE = 5.0  # HEALER_NETWORK_ERROR_RATE: errors + drops per second
WINDOW = 2.0  # HEALER_NETWORK_WINDOW
ERRS_PER_S, DROPS_PER_S = 30, 20  # ~50/s in all, ten times the threshold
TICK = 0.2

NET_DEV_HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
)


def net_dev(rx_errs: int, rx_drop: int) -> str:
    """/proc/<pid>/net/dev with loopback traffic and an eth0 whose rx errs/drop are given."""
    lo = (4_096, 48, 0, 0, 0, 0, 0, 0, 4_096, 48, 0, 0, 0, 0, 0, 0)
    eth0 = (1_234_567, 9_876, rx_errs, rx_drop, 0, 0, 0, 0, 765_432, 5_432, 0, 0, 0, 0, 0, 0)

    def line(name: str, c: tuple[int, ...]) -> str:
        rx = "{:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9}".format(*c[:8])
        tx = "{:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}".format(*c[8:])
        return f"{name:>6}: {rx} {tx}\n"

    return NET_DEV_HEADER + line("lo", lo) + line("eth0", eth0)


class ProcMirror:
    """`<root>/<pid>/{cgroup,net/dev}` for a fixed set of host pids; net/dev is rewritten
    every TICK by a thread, atomically (the healer never reads half a file)."""

    BASE_ERRS, BASE_DROPS = 7, 3

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="chtest-proc-"))
        self.pids: list[int] = []
        self.climb_started: float | None = None  # time.time() when the counters began rising
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proc-mirror", daemon=True)

    def mirror(self, pids: list[int]) -> None:
        for pid in pids:
            (self.root / str(pid) / "net").mkdir(parents=True)
            shutil.copyfile(HOST_PROC / str(pid) / "cgroup", self.root / str(pid) / "cgroup")
        self.pids = list(pids)
        self._write()
        self._thread.start()

    def climb(self) -> float:
        with self._lock:
            self.climb_started = time.time()
            return self.climb_started

    def counters(self) -> tuple[int, int]:
        with self._lock:
            since = self.climb_started
        elapsed = 0.0 if since is None else time.time() - since
        return self.BASE_ERRS + int(ERRS_PER_S * elapsed), self.BASE_DROPS + int(
            DROPS_PER_S * elapsed
        )

    def _write(self) -> None:
        text = net_dev(*self.counters())
        for pid in self.pids:
            net = self.root / str(pid) / "net"
            tmp = net / "dev.tmp"
            tmp.write_text(text)
            os.replace(tmp, net / "dev")

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            self._write()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def proc_mirror() -> Iterator[ProcMirror]:
    mirror = ProcMirror()
    try:
        yield mirror
    finally:
        mirror.close()


def _container_pids(cid: str) -> list[int]:
    """The container's pids as the collector finds them: its cgroup's cgroup.procs."""
    version = cgroup_version(CGROUP_ROOT)
    assert version is not None, f"no cgroup tree at {CGROUP_ROOT}"
    files = find_cgroup(CGROUP_ROOT, version, cid, {})
    assert files is not None, f"cgroup of {cid[:12]} not found under {CGROUP_ROOT}"
    return [int(p) for p in files.procs.read_text().split()]


def _prev_sample(r: redis.Redis, cid: str) -> dict[str, Any] | None:
    raw = r.get(keys.resource_prev(ContainerId(cid)))
    return None if raw is None else dict(json.loads(raw))


def _network_history(stack: HealerStack, service: str) -> list[dict[str, Any]]:
    return [e for e in stack.history(service) if e["condition"] == "network"]


def test_climbing_network_errors_restart_the_container_once_after_the_window(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    docker_client: docker.DockerClient,
    redis_client: redis.Redis,
    test_image: str,
    proc_mirror: ProcMirror,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "net")), wait=True)
    rec = docker_events(project)
    flaky = project.container("net")
    pids = _container_pids(flaky.id)
    assert flaky.attrs["State"]["Pid"] in pids
    proc_mirror.mirror(pids)
    base = ProcMirror.BASE_ERRS + ProcMirror.BASE_DROPS
    assert parse_net_dev(net_dev(ProcMirror.BASE_ERRS, ProcMirror.BASE_DROPS)) == base

    stack = healer_stack(
        project.name,
        WATCHDOG_INTERVAL="1",
        HEALER_NETWORK_ERROR_RATE=str(RATE),
        HEALER_NETWORK_WINDOW=str(WINDOW),
        HEALER_CGROUP_ROOT=str(CGROUP_ROOT),
        HEALER_PROC_ROOT=str(proc_mirror.root),
    )
    stack.worker(concurrency=2)
    stack.beat()

    # The probe reads the mirror: its stored sample carries the steady counters.
    wait_until(
        lambda: (_prev_sample(redis_client, flaky.id) or {}).get("net_errors") == base,
        timeout=20,
        message="the healer's samples never carried the mirrored counters:\n" + stack.tail(),
    )
    # At least one more steady cycle (a newer sample): a zero rate is no breach.
    steady_at = float((_prev_sample(redis_client, flaky.id) or {})["at"])
    wait_until(
        lambda: float((_prev_sample(redis_client, flaky.id) or {}).get("at", 0)) > steady_at,
        timeout=20,
        message="a newer steady sample",
    )
    wait_for_reconciles(stack.env["REDIS_URL"], 1)
    assert not rec.events("restart", "net"), rec.describe()

    climbing_ns = int(proc_mirror.climb() * 1e9)
    restart = rec.wait_for("restart", "net", timeout=30)[0]
    assert restart["container_id"] == flaky.id  # restarted in place, not recreated
    held = (restart["time_ns"] - climbing_ns) / 1e9
    assert held >= WINDOW - 0.1, f"restarted {held:.1f}s after the climb: the window ignored"

    acted = wait_until(
        lambda: [e for e in _network_history(stack, "net") if e["outcome"] == "acted"],
        timeout=15,
        message=stack.tail(),
    )
    assert len(acted) == 1 and acted[0]["action"] == "restart", acted
    assert acted[0]["source"] == "probe" and "network errors" in acted[0]["detail"], acted

    # New pids, outside the mirror: the counters are unknown, so the rule cannot fire again
    # (the mirror of the old pids keeps climbing meanwhile).
    flaky.reload()
    assert flaky.status == "running"
    assert not set(_container_pids(flaky.id)) & set(proc_mirror.pids)
    wait_until(
        lambda: (
            (s := _prev_sample(redis_client, flaky.id)) is not None
            and s["at"] * 1e9 > restart["time_ns"]
            and s["net_errors"] is None
        ),
        timeout=10,
        message="no sample of the restarted container without network counters",
    )
    # Positive signal: samples newer than a whole window after the restart were taken.
    after_window = restart["time_ns"] / 1e9 + WINDOW + 1
    wait_until(
        lambda: float((_prev_sample(redis_client, flaky.id) or {}).get("at", 0)) > after_window,
        timeout=WINDOW + 20,
        message="samples a window after the restart",
    )
    wait_for_reconciles(stack.env["REDIS_URL"], 1)
    assert len(rec.events("restart", "net")) == 1, rec.describe()
    history = _network_history(stack, "net")
    assert [e["outcome"] for e in history] == ["acted"], history
