"""Resource samples of running containers, cheaply, and the state of sustained conditions.

`StatsCollector` reads each container's cgroup files directly (v1 or v2, under `cgroup_root`;
in the compose deployment the host's tree mounted read-only): about ten small file reads and
no Docker call. Containers whose cgroup it cannot find go to the Docker stats API
(`one_shot`) on a bounded thread pool, never one after another.

`SustainedStore` keeps each container's previous sample and when each condition was first
seen in Redis, so every worker shares them and a worker restart loses nothing. A cycle costs
one MGET and one pipeline, whatever the number of containers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
import redis

from healer.adapters.docker.cgroups import (
    CgroupFiles,
    cgroup_version,
    find_cgroup,
    read_cgroup,
    read_optional,
)
from healer.adapters.store import keys
from healer.core import resources as res
from healer.core.model import ContainerId
from healer.core.resources import Breach, ResourceSample, ResourceState, SustainedRule

log = logging.getLogger("healer.stats")

# The longest gap between two observations that still counts as continuous: six missed
# probes at the default 30 s WATCHDOG_INTERVAL. Pass about 5 × the interval when it differs.
DEFAULT_STALE_AFTER = 180.0

# The stats API has no CPU quota, so fallback containers are inspected for it; `docker
# update --cpus` is rare and five minutes late is fine against a ten-minute window.
QUOTA_CACHE_TTL = 300.0

# Cached cgroup paths and quotas of containers not asked about for this long are dropped, so a
# long-lived worker does not grow. Longer than any probe interval: callers that sample one
# service at a time (event-path probes, the scaler) keep the other services' entries warm.
CACHE_IDLE = 900.0

# A one_shot stats call waits for the engine's next 1 s collection tick, so the calls are
# bound by latency, not CPU: N containers take about ceil(N / workers) seconds (measured on
# engine 20.10: 50 containers 7.3 s with 8 threads, 2.3 s with 32). Give the collector a client
# made with max_pool_size >= workers so the connections are reused.
DEFAULT_API_WORKERS = 32


def host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class StatsCollector:
    """Samples running containers: cgroup files first, the stats API in parallel for the rest.

    In a container the healer needs the host's cgroup tree (`cgroup_root`) and, for network
    counters, the host's /proc (`proc_root`, or `pid: host`); without them it falls back to the
    API, and without /proc a sample has no network counter (the network rule never fires).
    """

    def __init__(
        self,
        client: docker.DockerClient | None,
        cgroup_root: str | Path = "/sys/fs/cgroup",
        proc_root: str | Path = "/proc",
        *,
        host_cpus: float | None = None,
        host_mem: int | None = None,
        max_workers: int = DEFAULT_API_WORKERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.root = Path(cgroup_root)
        self.proc = Path(proc_root)
        self.version = cgroup_version(self.root)
        self.host_cpus = host_cpus or float(os.cpu_count() or 1)
        self.host_mem = host_mem or host_memory()
        self.max_workers = max(1, max_workers)
        self.clock = clock
        self.api_calls = 0  # for benchmarks: engine round trips so far
        self.fallbacks = 0  # containers sampled through the API in the last collect()
        self._files: dict[ContainerId, CgroupFiles] = {}
        self._quotas: dict[ContainerId, tuple[float | None, float]] = {}
        self._last_asked: dict[ContainerId, float] = {}
        self._lock = threading.Lock()
        self._one_shot = True

    def collect(
        self, containers: Iterable[tuple[ContainerId, int | None]]
    ) -> dict[ContainerId, ResourceSample]:
        """Samples of running containers by id; pid may be None (found in cgroup.procs).
        A container that vanished meanwhile is simply absent."""
        wanted = list(containers)
        self._forget({cid for cid, _ in wanted}, time.monotonic())
        samples: dict[ContainerId, ResourceSample] = {}
        missing: list[ContainerId] = []
        for cid, pid in wanted:
            sample = self._from_cgroup(cid, pid)
            if sample is None:
                missing.append(cid)
            else:
                samples[cid] = sample
        self.fallbacks = len(missing)
        samples.update(self._from_api(missing))
        return samples

    def _forget(self, asked: set[ContainerId], now: float) -> None:
        # Under the lock: the probe and the scaler may share one collector across threads.
        with self._lock:
            self._last_asked.update(dict.fromkeys(asked, now))
            idle = {c for c, at in self._last_asked.items() if now - at > CACHE_IDLE}
            for cid in idle:
                del self._last_asked[cid]
                self._files.pop(cid, None)
                self._quotas.pop(cid, None)

    # --- cgroup files ----------------------------------------------------------------------

    def _from_cgroup(self, cid: ContainerId, pid: int | None) -> ResourceSample | None:
        if self.version is None:
            return None
        files = self._files.get(cid) or self._find(cid, pid)
        if files is None:
            return None
        try:
            sample = read_cgroup(files, cid, self.clock(), self.host_cpus, self.host_mem)
            pid = self._verified_pid(cid, pid, files)
        except (OSError, ValueError):  # stopped meanwhile, or an unreadable mount
            self._files.pop(cid, None)
            return None
        self._files[cid] = files
        return sample if pid is None else replace(sample, net_errors=self._net_errors(pid))

    def _find(self, cid: ContainerId, pid: int | None) -> CgroupFiles | None:
        assert self.version is not None
        proc = self._proc_cgroup(pid) if pid else {}
        return find_cgroup(self.root, self.version, cid, proc)

    def _proc_cgroup(self, pid: int) -> dict[str, str]:
        text = read_optional(self.proc / str(pid) / "cgroup")
        return res.parse_proc_cgroup(text) if text else {}

    def _verified_pid(self, cid: ContainerId, pid: int | None, files: CgroupFiles) -> int | None:
        """A pid of the container as this process sees it. Another pid namespace (healer in a
        container without `pid: host`) may reuse the number for an unrelated process, so
        the pid counts only if its /proc/<pid>/cgroup names the container."""
        if not pid:
            first = files.procs.read_text().split(maxsplit=1)
            pid = int(first[0]) if first else None
        if not pid:
            return None
        text = read_optional(self.proc / str(pid) / "cgroup")
        return pid if text and cid in text else None

    def _net_errors(self, pid: int) -> int | None:
        text = read_optional(self.proc / str(pid) / "net" / "dev")
        return None if text is None else res.parse_net_dev(text)

    # --- Docker stats API ------------------------------------------------------------------

    def _from_api(self, cids: Sequence[ContainerId]) -> dict[ContainerId, ResourceSample]:
        if not cids or self.client is None:  # no client: cgroup files only (tests, tools)
            return {}
        with ThreadPoolExecutor(min(self.max_workers, len(cids)), "healer-stats") as pool:
            results = list(pool.map(self._api_sample, cids))
        return {s.container_id: s for s in results if s is not None}

    def _api_sample(self, cid: ContainerId) -> ResourceSample | None:
        try:
            quota = self._cached_quota(cid)
            payload = self._stats(cid)
        except docker.errors.NotFound:
            return None
        except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            log.warning("stats of container %s failed: %s", cid[:12], exc)
            return None
        sample = res.sample_from_stats(cid, self.clock(), payload, quota)
        limit = sample.mem_limit_bytes  # the engine reports host memory when unlimited
        return replace(sample, mem_limit_bytes=res.mem_limit(limit or None, self.host_mem))

    def _stats(self, cid: ContainerId) -> dict[str, Any]:
        assert self.client is not None
        self._count()
        if self._one_shot:
            try:  # without one_shot the engine waits a second for a second reading
                return dict(self.client.api.stats(cid, stream=False, one_shot=True))
            except docker.errors.InvalidVersion:
                self._one_shot = False  # engine API < 1.41
        return dict(self.client.api.stats(cid, stream=False))

    def _cached_quota(self, cid: ContainerId) -> float | None:
        now = time.monotonic()
        cached = self._quotas.get(cid)
        if cached is not None and now - cached[1] < QUOTA_CACHE_TTL:
            return cached[0]
        assert self.client is not None
        self._count()
        host_config = self.client.api.inspect_container(cid).get("HostConfig") or {}
        quota = res.quota_from_host_config(host_config)
        self._quotas[cid] = (quota, now)
        return quota

    def _count(self) -> None:
        with self._lock:
            self.api_calls += 1


# --- Redis state ---------------------------------------------------------------------------


def encode_sample(s: ResourceSample) -> str:
    return json.dumps(asdict(s), separators=(",", ":"))


def decode_sample(raw: str | bytes) -> ResourceSample | None:
    try:
        d = json.loads(raw)
        return ResourceSample(**{**d, "container_id": ContainerId(d["container_id"])})
    except (ValueError, TypeError, KeyError):
        return None  # written by another version: start the rate over


class SustainedStore:
    """Previous samples and `over_since` per (container, condition), shared by all workers."""

    def __init__(
        self,
        r: redis.Redis,
        rules: Sequence[SustainedRule] = res.DEFAULT_RULES,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> None:
        self.r = r
        self.rules = tuple(rules)
        self.ttl = max(1, int(stale_after))
        self.round_trips = 0
        self.last_ratios: dict[ContainerId, res.Ratios] = {}

    def read(self, cids: Sequence[ContainerId]) -> dict[ContainerId, ResourceState]:
        if not cids:
            return {}
        names = [k for cid in cids for k in self._keys(cid)]
        values = iter(self.r.mget(names))
        self.round_trips += 1
        states: dict[ContainerId, ResourceState] = {}
        for cid in cids:
            raw_prev = next(values)
            over = {rule.condition: next(values) for rule in self.rules}
            prev = decode_sample(raw_prev) if raw_prev is not None else None
            since = {c: float(v) for c, v in over.items() if v is not None}
            states[cid] = ResourceState(prev, since)
        return states

    def write(self, states: Mapping[ContainerId, ResourceState]) -> None:
        if not states:
            return
        pipe = self.r.pipeline(transaction=False)
        for cid, st in states.items():
            if st.prev is not None:
                pipe.set(keys.resource_prev(cid), encode_sample(st.prev), ex=self.ttl)
            for rule in self.rules:
                since = st.over_since.get(rule.condition)
                if since is None:
                    pipe.delete(keys.resource_over(cid, rule.condition))
                else:
                    pipe.set(keys.resource_over(cid, rule.condition), repr(since), ex=self.ttl)
        pipe.execute()
        self.round_trips += 1

    def cycle(
        self,
        samples: Mapping[ContainerId, ResourceSample],
        rules: Mapping[ContainerId, Sequence[SustainedRule]] | None = None,
    ) -> list[Breach]:
        """Read → evaluate (pure) → write: the conditions that have held for their window.
        `rules`: a container's own (its service's labels), else the store's."""
        states = self.read(list(samples))
        new: dict[ContainerId, ResourceState] = {}
        breaches: list[Breach] = []
        self.last_ratios = {}
        for cid, sample in samples.items():
            own = self.rules if rules is None else rules.get(cid, self.rules)
            new[cid], found = res.evaluate(states[cid], sample, own)
            breaches += found
            # Kept for the metrics the alert rules and dashboard read.
            self.last_ratios[cid] = res.ratios(states[cid].prev, sample)
        self.write(new)
        return breaches

    def _keys(self, cid: ContainerId) -> list[str]:
        return [
            keys.resource_prev(cid),
            *(keys.resource_over(cid, r.condition) for r in self.rules),
        ]
