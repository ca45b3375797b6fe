"""Resource samples of real containers (cgroup files and the stats API fallback), fake v1/v2
cgroup trees for the layouts this host does not have, and the sustained state in Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest
import redis

from healer.adapters.docker.cgroups import cgroup_version
from healer.adapters.docker.stats import StatsCollector, SustainedStore
from healer.adapters.store.keys import RESOURCE_PREFIX as RES_PREFIX
from healer.core.model import Condition, ContainerId
from healer.core.resources import ResourceSample, ratios
from tests.support import ComposeFactory, compose_yaml, wait_until

MiB = 2**20
BOGUS_ROOT = "/nonexistent/cgroup"  # forces the stats API fallback


def service(image: str, name: str, command: str, extra: str = "") -> str:
    block = (
        f"  {name}:\n    image: {image}\n    init: true\n    network_mode: none\n"
        f'    command: ["sh", "-c", "{command}"]\n'
    )
    return block + "".join(f"    {line}\n" for line in extra.splitlines())


def running(project: Any, name: str) -> list[tuple[ContainerId, int | None]]:
    return [(ContainerId(c.id), None) for c in project.containers(name)]


def sample_pair(
    collector: StatsCollector, targets: list[tuple[ContainerId, int | None]], gap: float = 1.0
) -> tuple[ResourceSample, ResourceSample]:
    first = collector.collect(targets)
    time.sleep(gap)
    second = collector.collect(targets)
    cid = targets[0][0]
    return first[cid], second[cid]


# --- real containers -----------------------------------------------------------------------


def test_memory_hog_near_its_limit(
    compose_project: ComposeFactory, docker_client: docker.DockerClient, test_image: str
) -> None:
    # tmpfs pages (/dev/shm) are charged to the container's memory cgroup and, without swap,
    # cannot be reclaimed: a real 28 MiB working set, unlike page cache.
    hog = "dd if=/dev/zero of=/dev/shm/x bs=1M count=28 && exec sleep 2147483647"
    project = compose_project(compose_yaml(service(test_image, "hog", hog, "mem_limit: 32m")))
    targets = running(project, "hog")
    cgroups = StatsCollector(docker_client)
    assert cgroups.version in (1, 2)
    cid = targets[0][0]

    def allocated() -> ResourceSample | None:
        s = cgroups.collect(targets).get(cid)
        return s if s is not None and s.mem_usage_bytes > 26 * MiB else None

    s = wait_until(allocated, timeout=20, message="the hog to allocate 28 MiB")
    assert s is not None
    assert s.mem_limit_bytes == 32 * MiB and cgroups.api_calls == 0
    assert ratios(None, s).mem > 0.8
    api = StatsCollector(docker_client, cgroup_root=BOGUS_ROOT)
    f = api.collect(targets)[cid]
    assert api.fallbacks == 1 and api.api_calls == 2  # inspect (CPU quota) + stats
    assert f.mem_limit_bytes == s.mem_limit_bytes
    assert abs(f.mem_usage_bytes - s.mem_usage_bytes) < 2 * MiB
    assert f.cpu_limit_cores == s.cpu_limit_cores


@pytest.mark.serial  # alone: it measures CPU use against a quota
def test_cpu_spinner_at_its_limit_by_both_paths(
    compose_project: ComposeFactory, docker_client: docker.DockerClient, test_image: str
) -> None:
    spin = "while :; do :; done"
    project = compose_project(compose_yaml(service(test_image, "spin", spin, "cpus: 0.5")))
    targets = running(project, "spin")
    cgroups, api = StatsCollector(docker_client), StatsCollector(docker_client, BOGUS_ROOT)
    time.sleep(0.5)  # let the quota throttle settle in
    by_cgroup = sample_pair(cgroups, targets)
    by_api = sample_pair(api, targets)
    assert by_cgroup[1].cpu_limit_cores == by_api[1].cpu_limit_cores == 0.5
    cpu_cgroup, cpu_api = ratios(*by_cgroup).cpu, ratios(*by_api).cpu
    assert cpu_cgroup is not None and cpu_api is not None
    assert 0.7 < cpu_cgroup < 1.2 and 0.7 < cpu_api < 1.2
    assert abs(cpu_cgroup - cpu_api) < 0.2
    assert by_cgroup[1].net_errors == 0  # network_mode none: loopback only, not counted


@pytest.mark.serial  # alone: it compares call times
def test_stats_api_fallback_runs_in_parallel(
    compose_project: ComposeFactory, docker_client: docker.DockerClient, test_image: str
) -> None:
    sleeper = "exec sleep 2147483647"
    yaml = compose_yaml(service(test_image, "many", sleeper, "deploy:\n  replicas: 20"))
    project = compose_project(yaml, timeout=180)
    targets = running(project, "many")
    assert len(targets) == 20
    tracker = InFlight(docker_client)
    collector = StatsCollector(docker_client, BOGUS_ROOT)
    collector.collect(targets)  # warms the CPU quota cache (one inspect per container)
    single = min(timed(lambda t=t: docker_client.api.stats(t[0], stream=False, one_shot=True))
                 for t in targets[:2])  # fmt: skip
    tracker.install()
    try:
        start = time.perf_counter()
        samples = collector.collect(targets)
        wall = time.perf_counter() - start
    finally:
        tracker.uninstall()
    assert len(samples) == 20 and collector.api_calls == 40 + 20  # quotas came from the cache
    assert tracker.peak >= 4, f"at most {tracker.peak} stats calls were in flight at once"
    print(f"20 containers via the stats API: {wall * 1000:.0f} ms, single call "
          f"{single * 1000:.0f} ms, peak in flight {tracker.peak}")  # fmt: skip
    assert wall < 0.5 * 20 * single


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class InFlight:
    """Wraps client.api.stats to record how many calls run at the same time."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.api = client.api
        self.original = client.api.stats
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def install(self) -> None:
        def stats(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                return self.original(*args, **kwargs)
            finally:
                with self.lock:
                    self.now -= 1

        self.api.stats = stats

    def uninstall(self) -> None:
        self.api.stats = self.original


# --- fake cgroup trees: the layouts this host does not run ----------------------------------

CID = "ab" * 32
NET_DEV = (
    "Inter-| Receive | Transmit\n face |bytes packets errs drop ...\n"
    "    lo: 9 9 9 9 0 0 0 0 9 9 9 9 0 0 0 0\n"
    "  eth0: 100 1 2 3 0 0 0 0 200 2 4 5 0 0 0 0\n"
)


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def fake_proc(tmp: Path, pid: int, cgroup_line: str) -> Path:
    proc = tmp / "proc"
    write_tree(proc, {f"{pid}/cgroup": cgroup_line + "\n", f"{pid}/net/dev": NET_DEV})
    return proc


def test_cgroup_v2_systemd_layout(tmp_path: Path) -> None:
    scope = f"system.slice/docker-{CID}.scope"
    write_tree(tmp_path / "cg", {
        "cgroup.controllers": "cpuset cpu io memory pids\n",
        f"{scope}/cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
        f"{scope}/cpu.max": "150000 100000\n",
        f"{scope}/cpuset.cpus.effective": "0-3\n",
        f"{scope}/memory.current": f"{60 * MiB}\n",
        f"{scope}/memory.max": f"{128 * MiB}\n",
        f"{scope}/memory.stat": f"anon {40 * MiB}\nfile {20 * MiB}\ninactive_file {10 * MiB}\n",
        f"{scope}/cgroup.procs": "4242\n4250\n",
    })  # fmt: skip
    proc = fake_proc(tmp_path, 4242, f"0::/{scope}")
    collector = StatsCollector(None, tmp_path / "cg", proc, host_cpus=8, host_mem=1 << 34)
    assert cgroup_version(tmp_path / "cg") == 2
    s = collector.collect([(ContainerId(CID), None)])[ContainerId(CID)]
    assert (s.cpu_usage_ns, s.cpu_limit_cores) == (2_500_000_000, 1.5)
    assert (s.mem_usage_bytes, s.mem_limit_bytes, s.net_errors) == (50 * MiB, 128 * MiB, 14)


def test_cgroup_v1_cgroupfs_layout_unlimited_and_a_foreign_pid(tmp_path: Path) -> None:
    rel = f"docker/{CID}"
    write_tree(tmp_path / "cg", {
        f"cpuacct/{rel}/cpuacct.usage": "123456789\n",
        f"cpu/{rel}/cpu.cfs_quota_us": "-1\n",
        f"cpu/{rel}/cpu.cfs_period_us": "100000\n",
        f"cpuset/{rel}/cpuset.cpus": "0-1\n",
        f"memory/{rel}/memory.usage_in_bytes": f"{30 * MiB}\n",
        f"memory/{rel}/memory.limit_in_bytes": "9223372036854771712\n",
        f"memory/{rel}/memory.stat": f"cache 0\ntotal_inactive_file {5 * MiB}\n",
        f"memory/{rel}/cgroup.procs": "77\n",
    })  # fmt: skip
    # pid 77 in this /proc is some other process (another pid namespace): no net counters.
    proc = fake_proc(tmp_path, 77, "4:memory:/user.slice")
    collector = StatsCollector(None, tmp_path / "cg", proc, host_cpus=8, host_mem=1 << 30)
    s = collector.collect([(ContainerId(CID), None)])[ContainerId(CID)]
    assert (s.cpu_usage_ns, s.cpu_limit_cores) == (123456789, 2.0)
    assert (s.mem_usage_bytes, s.mem_limit_bytes, s.net_errors) == (25 * MiB, 1 << 30, None)


# --- sustained state in Redis --------------------------------------------------------------


def mem_sample(cid: str, at: float, ratio: float) -> ResourceSample:
    return ResourceSample(ContainerId(cid), at, int(at * 1e8), 1.0, int(ratio * 100 * MiB),
                          100 * MiB, 0)  # fmt: skip


def test_sustained_state_is_shared_survives_restarts_and_expires(redis_client: redis.Redis) -> None:
    cids = [f"c{i:03d}" for i in range(100)]
    breaches = []
    for step, at in enumerate(range(1000, 1301, 30)):
        store = SustainedStore(redis_client, stale_after=180)  # a new worker every cycle
        samples = {ContainerId(c): mem_sample(c, at, 0.95 if c < "c050" else 0.5) for c in cids}
        breaches = store.cycle(samples)
        assert store.round_trips == 2, "one MGET and one pipeline, whatever the count"
        if step < 10:
            assert breaches == []
    assert sorted(b.container_id for b in breaches) == cids[:50]
    assert {b.condition for b in breaches} == {Condition.MEMORY}
    keys = list(redis_client.scan_iter(f"{RES_PREFIX}*"))
    assert len(keys) == 100 + 50  # a previous sample each, `over` only where it is over
    assert all(0 < redis_client.ttl(k) <= 180 for k in keys)
    store.cycle({ContainerId("c000"): mem_sample("c000", 1330, 0.5)})
    assert not redis_client.exists(f"{RES_PREFIX}over:c000:memory")


@pytest.mark.parametrize("garbage", ["not json", '{"at": 1}'])
def test_an_unreadable_previous_sample_starts_the_rate_over(
    redis_client: redis.Redis, garbage: str
) -> None:
    redis_client.set(f"{RES_PREFIX}prev:c1", garbage, ex=60)
    state = SustainedStore(redis_client).read([ContainerId("c1")])[ContainerId("c1")]
    assert state.prev is None
