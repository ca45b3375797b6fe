"""Pure pieces of the autoscaler's adapters: replica create bodies from an inspect payload,
kombu's priority list names, inspect-reply counting and the scaler's resource ratios (the
resource maths itself is healer.core.resources, shared with the probe)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from kombu.transport.redis import PRIORITY_STEPS, Channel

from healer.adapters.docker.container_spec import create_body, fixed_host_ports, scale_blockers
from healer.adapters.scaling.metrics import CollectorSource
from healer.adapters.scaling.queue_depth import count_tasks, priority_keys
from healer.core import resources as res
from healer.core.compose_labels import NUMBER_LABEL, name_separator
from healer.core.model import ContainerId, ContainerView
from healer.core.resources import ResourceSample

CID = "9056a978ed16" + "0" * 52
ANON = "c0686cf1f9a6450fb1585411583024a75da51e84287b9e264e4c377973eb30ab"


def inspect(**over: Any) -> dict[str, Any]:
    """A trimmed `docker inspect` of compose v2 container #1 (recorded from compose 2.40)."""
    info: dict[str, Any] = {
        "Id": CID,
        "Name": "/proj-web-1",
        "Image": "sha256:e778",
        "Config": {
            "Hostname": CID[:12],
            "Env": ["PATH=/bin", "MODE=prod"],
            "Cmd": ["sh", "-c", "exec sleep 1d"],
            "Image": "busybox:latest",
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000},
            "Labels": {
                "com.docker.compose.project": "proj",
                "com.docker.compose.service": "web",
                NUMBER_LABEL: "1",
                "com.docker.compose.config-hash": "f678",
                "com.docker.compose.replace": "old-id",
            },
            "StopTimeout": 3,
            "MacAddress": "02:42:ac:11:00:02",
        },
        "HostConfig": {
            "Binds": ["proj_data:/data:rw", f"{ANON}:/cache:rw", "/srv/conf:/conf:ro"],
            "Mounts": [
                {"Type": "volume", "Target": "/anon", "VolumeOptions": {}},
                {"Type": "volume", "Source": ANON, "Target": "/old"},
            ],
            "NetworkMode": "proj_default",
            "RestartPolicy": {"Name": "unless-stopped"},
            "Memory": 67108864,
            "NanoCpus": 500_000_000,
            "Init": True,
            "Tmpfs": {"/tmp": ""},
            "PortBindings": {},
            "Links": ["/proj-db-1:/proj-web-1/db"],
        },
        "NetworkSettings": {
            "Networks": {
                "backend": {"Aliases": ["web", "proj-web-1", CID[:12]], "IPAMConfig": {"x": 1}},
                "proj_default": {"Aliases": ["proj-web-1", "web", CID[:12]], "Links": None},
            }
        },
    }
    for key, value in over.items():
        info[key] = value
    return info


def test_body_keeps_config_and_host_config_but_gets_its_own_identity() -> None:
    info = inspect()
    body, more = create_body(info, 3, "proj-web-3", "web", "busybox:latest")
    assert body["Cmd"] == info["Config"]["Cmd"] and body["Env"] == info["Config"]["Env"]
    assert body["Healthcheck"] == info["Config"]["Healthcheck"]
    assert body["StopTimeout"] == 3
    assert "Hostname" not in body and "MacAddress" not in body
    labels = body["Labels"]
    assert labels[NUMBER_LABEL] == "3"
    assert labels["com.docker.compose.config-hash"] == "f678"
    assert "com.docker.compose.replace" not in labels
    host = body["HostConfig"]
    for key in ("RestartPolicy", "Memory", "NanoCpus", "Init", "Tmpfs"):
        assert host[key] == info["HostConfig"][key]
    assert info == inspect(), "the template payload must not be mutated"
    assert more == {"backend": {"Aliases": ["proj-web-3", "web"]}}


def test_named_volumes_and_binds_shared_anonymous_ones_fresh() -> None:
    body, _ = create_body(inspect(), 2, "proj-web-2", "web", "img")
    host = body["HostConfig"]
    assert host["Binds"] == ["proj_data:/data:rw", "/srv/conf:/conf:ro"]
    assert body["Volumes"] == {"/cache": {}}
    assert host["Mounts"] == [
        {"Type": "volume", "Target": "/anon", "VolumeOptions": {}},
        {"Type": "volume", "Target": "/old"},
    ]


def test_first_network_is_the_network_mode_and_static_ips_are_dropped() -> None:
    body, _ = create_body(inspect(), 2, "proj-web-2", "web", "img")
    eps = body["NetworkingConfig"]["EndpointsConfig"]
    assert list(eps) == ["proj_default"]
    assert eps["proj_default"] == {"Aliases": ["proj-web-2", "web"]}


def test_legacy_links_follow_the_new_name() -> None:
    body, _ = create_body(inspect(), 2, "proj-web-2", "web", "img")
    assert body["HostConfig"]["Links"] == ["/proj-db-1:/proj-web-2/db"]


def test_shared_namespaces_get_no_networking_config_nor_hostname() -> None:
    for mode in ("none", "host", "container:abc"):
        info = inspect()
        info["HostConfig"]["NetworkMode"] = mode
        info["Config"]["Hostname"] = "myhost"
        body, more = create_body(info, 2, "proj-web-2", "web", "img")
        assert "NetworkingConfig" not in body and more == {}
        assert "Hostname" not in body


def test_an_explicit_hostname_is_kept_on_an_own_network() -> None:
    info = inspect()
    info["Config"]["Hostname"] = "worker"
    body, _ = create_body(info, 2, "proj-web-2", "web", "img")
    assert body["Hostname"] == "worker"


def test_blockers_container_name_and_fixed_host_ports() -> None:
    assert scale_blockers(inspect(), "proj", "web") == []
    named = inspect(Name="/my-web")
    assert "container_name" in scale_blockers(named, "proj", "web")[0]
    ported = copy.deepcopy(inspect())
    ported["HostConfig"]["PortBindings"] = {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "81/tcp": [{"HostIp": "", "HostPort": "9000-9010"}],
        "82/tcp": [{"HostIp": "", "HostPort": ""}],
    }
    assert fixed_host_ports(ported) == ["8080->80/tcp"]
    assert "8080->80/tcp" in scale_blockers(ported, "proj", "web")[0]


def test_name_separator_of_compose_v1_and_v2() -> None:
    assert name_separator("/proj-web-1", "proj", "web") == "-"
    assert name_separator("/proj_web_1", "proj", "web") == "_"
    assert name_separator("/custom", "proj", "web") is None


# --- kombu priorities and inspect replies ----------------------------------------------


def test_priority_keys_match_kombu() -> None:
    channel_q_for_pri = Channel._q_for_pri  # the function kombu itself uses

    class Fake:
        sep = Channel.sep
        priority_steps = PRIORITY_STEPS

        def priority(self, n: int) -> int:
            return int(Channel.priority(self, n))

    expected = [channel_q_for_pri(Fake(), "jobs", p) for p in PRIORITY_STEPS]
    assert priority_keys("jobs") == expected
    assert priority_keys("jobs")[1] == "jobs\x06\x163"
    assert priority_keys("q", [0, 5], prefix="app:") == ["app:q", "app:q\x06\x165"]


def test_count_tasks_filters_by_queue() -> None:
    replies = {
        "celery@a": [
            {"id": "1", "delivery_info": {"routing_key": "jobs"}},
            {"id": "2", "delivery_info": {"routing_key": "other"}},
        ],
        "celery@b": [{"id": "3", "delivery_info": {"routing_key": "jobs"}}],
        "celery@c": None,
    }
    assert count_tasks(replies, ["jobs"]) == 2  # type: ignore[arg-type]
    assert count_tasks(None, ["jobs"]) == 0


# --- stats ratios ----------------------------------------------------------------------


def stats(total: int, cpus: int = 4) -> dict:  # type: ignore[type-arg]
    """A one_shot stats API payload (no precpu_stats: the rate is between two samples)."""
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": total}, "online_cpus": cpus},
        "memory_stats": {"usage": 60, "limit": 100, "stats": {"inactive_file": 10}},
    }


def api_cpu_ratio(host_config: dict[str, Any]) -> float | None:
    """0.5 s of CPU over 1 s of wall time between two stats API samples, as the scaler's
    fallback source computes it: the quota from inspect, the rest from the payload."""
    quota = res.quota_from_host_config(host_config)
    before = res.sample_from_stats(ContainerId(CID), 10.0, stats(1_000_000_000), quota)
    after = res.sample_from_stats(ContainerId(CID), 11.0, stats(1_500_000_000), quota)
    return res.ratios(before, after).cpu


def test_cpu_ratio_against_the_limit() -> None:
    assert api_cpu_ratio({"NanoCpus": 500_000_000}) == 1.0  # half a core of a half-core limit
    assert api_cpu_ratio({}) == 0.125  # no limit: the host's 4 cores
    assert api_cpu_ratio({"CpuQuota": 100_000, "CpuPeriod": 100_000}) == 0.5
    assert res.quota_from_host_config({"CpusetCpus": "0-1,3"}) == 3
    assert res.cpu_limit(None, 3, 8) == 3


def test_cpu_ratio_needs_two_samples() -> None:
    only = res.sample_from_stats(ContainerId(CID), 10.0, stats(1_500), None)
    assert res.ratios(None, only).cpu is None
    assert res.ratios(only, only).cpu is None  # no time between them


def test_memory_ratio_excludes_reclaimable_cache() -> None:
    sample = res.sample_from_stats(ContainerId(CID), 10.0, stats(0), None)
    assert res.ratios(None, sample).mem == 0.5
    empty = res.sample_from_stats(ContainerId(CID), 10.0, {"memory_stats": {}}, None)
    assert res.ratios(None, empty).mem == 0.0  # no limit reported: nothing to compare with


def test_collector_source_needs_two_samples_for_cpu() -> None:
    cid = ContainerId("c1")
    feed = iter(
        [
            ResourceSample(cid, 100.0, 0, 0.5, 30, 100, None),
            ResourceSample(cid, 110.0, 2_500_000_000, 0.5, 50, 100, None),
        ]
    )

    class Fake:
        def collect(
            self, containers: Iterable[tuple[ContainerId, int | None]]
        ) -> dict[ContainerId, ResourceSample]:
            return {cid: next(feed)} if list(containers) else {}

    view = ContainerView(cid, "p-s-1", "p", "s", 1, "running", None, None)
    source = CollectorSource(Fake())
    assert source("cpu", [view]) is None  # no base sample yet
    assert source("cpu", [view]) == 0.5  # 0.25 cores over 10 s of a 0.5-core limit
    assert source("memory", [ContainerView(cid, "x", "p", "s", 2, "exited", None, 0)]) is None


def test_collector_source_takes_the_probes_stored_sample_as_its_first_base() -> None:
    cid = ContainerId("c1")
    stored = ResourceSample(cid, 90.0, 0, 0.5, 30, 100, None)
    now = ResourceSample(cid, 100.0, 2_500_000_000, 0.5, 50, 100, None)
    asked: list[list[ContainerId]] = []

    class Fake:
        def collect(
            self, containers: Iterable[tuple[ContainerId, int | None]]
        ) -> dict[ContainerId, ResourceSample]:
            return {cid: now}

    def base(cids: Any) -> dict[ContainerId, ResourceSample]:
        asked.append(list(cids))
        return {cid: stored}

    view = ContainerView(cid, "p-s-1", "p", "s", 1, "running", None, None)
    source = CollectorSource(Fake(), base)
    assert source("cpu", [view]) == 0.5  # 0.25 cores over 10 s, a first cycle included
    assert source("memory", [view]) == 0.5
    assert asked == [[cid]], "memory needs no base; cpu asks Redis once, then keeps its own"
