"""Resource conditions, purely: file parsers, rates, the sustained tracker and findings."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core import resources as res
from healer.core.model import Action, Condition, ContainerId, ContainerView, ServiceId, ServiceView
from healer.core.resources import (
    CPU_RULE,
    MEMORY_RULE,
    NETWORK_RULE,
    ResourceSample,
    ResourceState,
    evaluate,
    ratios,
    sustained,
)

CID = ContainerId("c" * 64)
MiB = 2**20
PROPS = settings(max_examples=60, deadline=None)


def sample(
    at: float = 0.0, cpu_s: float = 0.0, mem: int = 0, net: int | None = 0
) -> ResourceSample:
    return ResourceSample(CID, at, int(cpu_s * 1e9), 0.5, mem, 100 * MiB, net)


# --- parsers -------------------------------------------------------------------------------

# /proc/<pid>/net/dev, with the columns squeezed: two header lines, then one per interface.
NET_DEV = (
    "Inter-|   Receive                            |  Transmit\n"
    " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop ...\n"
    "    lo: 100 2 7 7 0 0 0 0  100 2 7 7 0 0 0 0\n"
    "  eth0:1234567 10 1 2 0 0 0 0  5678 20 3 4 0 0 0 0\n"
    "  eth1: 0 0 10 0 0 0 0 0 0 0 0 20 0 0 0 0\n"
)


def test_net_dev_sums_errors_and_drops_of_every_interface_but_loopback() -> None:
    assert res.parse_net_dev(NET_DEV) == 1 + 2 + 3 + 4 + 10 + 20


def test_cgroup_v2_files() -> None:
    assert res.parse_cpu_stat_v2("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n") == 1_500_000
    assert res.parse_memory_max("max\n") is None
    assert res.parse_memory_max("33554432\n") == 32 * MiB
    assert res.parse_cpu_max("max 100000\n") is None
    assert res.parse_cpu_max("50000 100000\n") == 0.5
    stat = "anon 100\nfile 300\ninactive_file 200\nactive_file 100\n"
    assert res.parse_flat_keyed(stat, "inactive_file") == 200
    assert res.parse_flat_keyed(stat, "total_inactive_file") is None
    with pytest.raises(ValueError):
        res.parse_cpu_stat_v2("user_usec 1\n")


def test_cgroup_v1_files() -> None:
    assert res.parse_memory_max("9223372036854771712\n") is None  # v1's "unlimited"
    assert res.parse_cfs_quota("-1\n", "100000\n") is None
    assert res.parse_cfs_quota("150000\n", "100000\n") == 1.5
    assert res.parse_int("123456789\n") == 123456789


@pytest.mark.parametrize(
    ("text", "count"), [("0-3,6\n", 5), ("1\n", 1), ("0-1,4-5,7", 5), ("\n", None), ("", None)]
)
def test_cpuset(text: str, count: int | None) -> None:
    assert res.parse_cpuset(text) == count


def test_proc_cgroup_v1_and_v2() -> None:
    v1 = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n"
    paths = res.parse_proc_cgroup(v1)
    assert paths["memory"] == paths["cpuacct"] == paths["systemd"] == "/docker/abc"
    assert res.parse_proc_cgroup("0::/system.slice/docker-abc.scope\n") == {
        "": "/system.slice/docker-abc.scope"
    }


def test_limits_fall_back_to_the_host() -> None:
    assert res.cpu_limit(None, None, 8.0) == 8.0
    assert res.cpu_limit(0.5, 2, 8.0) == 0.5
    assert res.cpu_limit(4.0, 2, 8.0) == 2.0  # cpuset tighter than the quota
    assert res.cpu_limit(16.0, None, 8.0) == 8.0
    assert res.mem_limit(None, 1000) == 1000
    assert res.mem_limit(5000, 1000) == 1000
    assert res.mem_limit(500, 1000) == 500


def test_working_set_subtracts_inactive_file_cache_like_docker_stats() -> None:
    assert res.working_set(100, 30) == 70
    assert res.working_set(100, 200) == 100


# --- one set of rules for cgroup files and the stats API ----------------------------------


@pytest.mark.parametrize(
    ("stat", "usage", "cache"),
    [
        # cgroup v1 has both: the hierarchical total counts, the group's own does not.
        ({"total_inactive_file": 30, "inactive_file": 10}, 100, 30),
        ({"inactive_file": 10}, 100, 10),  # cgroup v2
        # docker CLI: a total at or above usage is skipped, then v2's key is tried.
        ({"total_inactive_file": 150, "inactive_file": 10}, 100, 10),
        ({"inactive_file": 100}, 100, 0),  # never below zero, never the whole usage
        ({}, 100, 0),
        ({"inactive_file": -5}, 100, 0),
    ],
)
def test_inactive_file_precedence(stat: dict[str, int], usage: int, cache: int) -> None:
    assert res.reclaimable_cache(stat, usage) == cache
    assert res.memory_working_set(usage, stat) == usage - cache


def test_memory_stat_file_and_stats_api_give_the_same_working_set() -> None:
    v1 = "cache 500\ninactive_file 100\ntotal_cache 900\ntotal_inactive_file 300\n"
    from_file = res.memory_working_set(1000, res.parse_memory_stat(v1))
    stats = {"inactive_file": 100, "total_inactive_file": 300}
    payload = {"memory_stats": {"usage": 1000, "limit": 4000, "stats": stats}}
    from_api = res.sample_from_stats(CID, 1.0, payload, None).mem_usage_bytes
    assert from_file == from_api == 700
    v2 = "anon 10\ninactive_file 250\n"
    assert res.memory_working_set(1000, res.parse_memory_stat(v2)) == 750


@pytest.mark.parametrize(
    ("host_config", "host_cpus", "limit"),
    [
        ({"NanoCpus": 4_000_000_000, "CpusetCpus": "0-1"}, 8.0, 2.0),  # cpuset binds
        ({"NanoCpus": 500_000_000, "CpusetCpus": "0-1"}, 8.0, 0.5),  # quota binds
        ({"CpuQuota": 300_000, "CpuPeriod": 100_000, "CpusetCpus": "0-3"}, 8.0, 3.0),
        ({"CpuQuota": 300_000, "CpuPeriod": 100_000}, 2.0, 2.0),  # the host binds
        ({"CpusetCpus": "0,2-3"}, 8.0, 3.0),
        ({}, 8.0, 8.0),
        # The engine refuses both; should a payload carry them, --cpus (NanoCpus) counts.
        ({"NanoCpus": 1_000_000_000, "CpuQuota": 300_000, "CpuPeriod": 100_000}, 8.0, 1.0),
    ],
)
def test_cpu_limit_precedence_is_the_tightest_ceiling(
    host_config: dict[str, object], host_cpus: float, limit: float
) -> None:
    """The stats API path (quota from inspect) and the cgroup path (cpu.max or
    cfs_quota/period, cpuset file) reach the same limit through `cpu_limit`."""
    api = res.cpu_limit(res.quota_from_host_config(host_config), None, host_cpus)
    nano = int(host_config.get("NanoCpus") or 0)  # type: ignore[call-overload]
    quota = int(host_config.get("CpuQuota") or 0)  # type: ignore[call-overload]
    cores = nano / 1e9 if nano else (quota / 100_000 if quota else None)
    cpuset = res.parse_cpuset(str(host_config.get("CpusetCpus") or ""))
    cpu_max = f"{int(cores * 100_000)} 100000" if cores else "max 100000"
    from_files = res.cpu_limit(res.parse_cpu_max(cpu_max), cpuset, host_cpus)
    assert api == from_files == limit


# --- the stats API payload -----------------------------------------------------------------


def test_sample_from_stats_v1_payload() -> None:
    payload = {
        "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "online_cpus": 2},
        "memory_stats": {"usage": 40 * MiB, "limit": 64 * MiB,
                         "stats": {"total_inactive_file": 8 * MiB}},
        "networks": {"eth0": {"rx_errors": 1, "rx_dropped": 2, "tx_errors": 3, "tx_dropped": 4}},
    }  # fmt: skip
    s = res.sample_from_stats(CID, 10.0, payload, 0.5)
    assert (s.cpu_usage_ns, s.cpu_limit_cores) == (2_000_000_000, 0.5)
    assert (s.mem_usage_bytes, s.mem_limit_bytes, s.net_errors) == (32 * MiB, 64 * MiB, 10)


def test_sample_from_stats_v2_payload_without_networks() -> None:
    payload = {
        "cpu_stats": {"cpu_usage": {"total_usage": 5}, "online_cpus": 4},
        "memory_stats": {"usage": 10 * MiB, "limit": 20 * MiB, "stats": {"inactive_file": MiB}},
    }
    s = res.sample_from_stats(CID, 10.0, payload, None)
    assert (s.cpu_limit_cores, s.mem_usage_bytes, s.net_errors) == (4.0, 9 * MiB, 0)


@pytest.mark.parametrize(
    ("host_config", "cores"),
    [
        ({"NanoCpus": 500_000_000}, 0.5),
        ({"CpuQuota": 150000, "CpuPeriod": 100000}, 1.5),
        ({"CpuQuota": 50000, "CpuPeriod": 0}, 0.5),
        ({"CpusetCpus": "0-1"}, 2.0),
        ({"NanoCpus": 3_000_000_000, "CpusetCpus": "0"}, 1.0),
        ({"NanoCpus": 0, "CpuQuota": 0, "CpusetCpus": ""}, None),
        ({}, None),
    ],
)
def test_quota_from_host_config(host_config: dict[str, object], cores: float | None) -> None:
    assert res.quota_from_host_config(host_config) == cores


# --- rates ---------------------------------------------------------------------------------


def test_ratios_are_relative_to_the_limit() -> None:
    r = ratios(sample(0, cpu_s=1.0, net=5), sample(10, cpu_s=5.5, mem=95 * MiB, net=25))
    assert r.cpu == pytest.approx(0.9)  # 4.5 s of CPU in 10 s against 0.5 cores
    assert r.mem == pytest.approx(0.95)
    assert r.net_errors_per_s == pytest.approx(2.0)


@pytest.mark.parametrize(
    "prev",
    [None, sample(9.5, cpu_s=1.0), sample(0, cpu_s=99.0)],
    ids=["first sample", "too close", "counter reset"],
)
def test_ratios_without_a_usable_base_have_no_rates(prev: ResourceSample | None) -> None:
    r = ratios(prev, sample(10, cpu_s=2.0, mem=50 * MiB))
    assert (r.cpu, r.net_errors_per_s, r.mem) == (None, None, 0.5)


def test_unreadable_network_counters_give_no_rate() -> None:
    assert ratios(sample(0, net=None), sample(10, net=3)).net_errors_per_s is None


# --- the sustained tracker -----------------------------------------------------------------


def test_sustained_fires_only_after_the_window() -> None:
    assert sustained(None, 0.95, 0.9, 300, 1000) == (1000, False)
    assert sustained(1000, 0.95, 0.9, 300, 1299) == (1000, False)
    assert sustained(1000, 0.95, 0.9, 300, 1300) == (1000, True)


def test_sustained_resets_below_the_threshold_and_waits_without_a_reading() -> None:
    assert sustained(1000, 0.9, 0.9, 300, 2000) == (None, False)  # "more than 90 %"
    assert sustained(1000, None, 0.9, 300, 2000) == (1000, False)


@PROPS
@given(st.lists(st.tuples(st.floats(0, 60), st.floats(0, 2)), max_size=40))
def test_sustained_fires_exactly_when_every_reading_of_the_window_was_over(
    steps: list[tuple[float, float]],
) -> None:
    since, now, run_start = None, 0.0, None
    for dt, value in steps:
        now += dt
        since, held = sustained(since, value, 0.9, 300, now)
        run_start = (run_start if run_start is not None else now) if value > 0.9 else None
        assert since == run_start
        assert held == (run_start is not None and now - run_start >= 300)


# --- evaluate: one container over several cycles ------------------------------------------


def run(samples: list[ResourceSample], state: ResourceState | None = None) -> list[list[str]]:
    state = state or ResourceState()
    fired = []
    for s in samples:
        state, breaches = evaluate(state, s)
        fired.append([b.condition.value for b in breaches])
    return fired


def test_memory_fires_after_five_minutes_over_ninety_percent() -> None:
    fired = run([sample(t, cpu_s=0.0, mem=95 * MiB) for t in range(0, 331, 30)])
    assert [i for i, f in enumerate(fired) if f == ["memory"]] == [10, 11]  # t=300, 330


def test_cpu_fires_after_ten_minutes_at_its_limit() -> None:
    fired = run([sample(t, cpu_s=t * 0.5) for t in range(0, 631, 30)])
    # The first rate exists at t=30, so ten minutes have held at t=630.
    assert fired[-1] == ["cpu"] and not any(fired[:-1])


def test_network_errors_need_a_sustained_rate() -> None:
    samples = [sample(t, net=t * 20) for t in range(0, 181, 30)]  # 20 errors/s
    assert run(samples)[-1] == ["network"]
    assert NETWORK_RULE.window == 120


def test_a_restart_ends_the_episode() -> None:
    over = [sample(t, cpu_s=t * 0.5, mem=95 * MiB) for t in range(0, 601, 30)]
    after = [sample(630 + t, cpu_s=t * 0.5, mem=95 * MiB) for t in range(0, 91, 30)]
    state = ResourceState()
    for s in over:
        state, _ = evaluate(state, s)
    assert set(state.over_since) == {Condition.CPU, Condition.MEMORY}
    state, breaches = evaluate(state, after[0])  # counters started over: restarted
    assert breaches == [] and state.over_since == {Condition.MEMORY: 630}


def test_a_probe_right_after_another_keeps_the_older_base() -> None:
    state, _ = evaluate(ResourceState(), sample(0, cpu_s=0))
    state, _ = evaluate(state, sample(30, cpu_s=15))
    state, _ = evaluate(state, sample(30.2, cpu_s=15.1))
    assert state.prev is not None and state.prev.at == 30


def test_breach_detail_names_the_value_and_the_rule() -> None:
    state = ResourceState(None, {Condition.MEMORY: 0.0})
    _, breaches = evaluate(state, sample(300, mem=95 * MiB), [MEMORY_RULE, CPU_RULE])
    (b,) = breaches
    assert (b.condition, b.since) == (Condition.MEMORY, 0.0)
    assert b.detail == "memory 95% of 100 MiB for 300s (rule: > 0.9 for 300s)"


def test_findings_group_breaches_per_service_and_condition() -> None:
    def view(cid: str, service: str, n: int) -> ContainerView:
        return ContainerView(
            ContainerId(cid), f"p-{service}-{n}", "p", service, n, "running", None, None
        )

    web, db = ServiceId("p/web"), ServiceId("p/db")
    views = {
        web: ServiceView(web, (view("a", "web", 1), view("b", "web", 2))),
        db: ServiceView(db, (view("c", "db", 1),)),
    }
    base = res.Breach(ContainerId("a"), Condition.MEMORY, 0.95, 0.0, "memory 95%")
    breaches = [
        base,
        replace(base, container_id=ContainerId("b")),
        replace(base, container_id=ContainerId("c"), condition=Condition.CPU),
        replace(base, container_id=ContainerId("gone")),
    ]
    found = res.resource_findings(views, breaches)
    assert [(f.sid, f.condition, f.action, f.container_ids) for f in found] == [
        ("p/db", Condition.CPU, Action.RESTART, ("c",)),
        ("p/web", Condition.MEMORY, Action.RESTART, ("a", "b")),
    ]
    assert found[1].detail == "p-web-1: memory 95%; p-web-2: memory 95%"
