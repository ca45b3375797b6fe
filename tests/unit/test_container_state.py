"""Docker payloads → ContainerState, on payloads captured from a real engine (Docker 20.10,
the test image compose-healer-test/busybox; tests/unit/samples) and on odd, sparse ones."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

from healer.adapters.docker.engine import ListEntry, refresh_from_inspect, view_from_list_entry
from healer.adapters.docker.state import Fixed, fixed_of, state_from_inspect, state_from_list
from healer.core.boot.detect import container_times, engine_time
from healer.core.container_state import ContainerState, Healthcheck
from healer.core.model import Condition
from healer.core.overload.evidence import Evidence, from_checks
from healer.core.rollout.budget import availability_timeout
from healer.core.rollout.start_first import Order, choose
from healer.engine.repair.reread import failing

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((SAMPLES / f"{name}.json").read_text()))


def test_a_check_that_timed_out() -> None:
    raw = sample("inspect-timeout")
    c = state_from_inspect(raw)
    assert (c.id, c.name) == (raw["Id"], "state-sample-timeout")
    assert (c.project, c.service, c.number) == ("sample", "web", 1)
    assert (c.status, c.running, c.restarting, c.exit_code, c.oom_killed) == (
        "running",
        True,
        False,
        0,
        False,
    )
    assert c.health == "unhealthy" and not c.available
    assert c.health_log is not None and len(c.health_log) == 5
    assert all(p.exit_code == -1 and p.end > p.start > 0 for p in c.health_log)
    assert c.failing_outputs() == ["Health check exceeded timeout (500ms)"] * 5
    assert [f.kind for f in from_checks("web", c.failing_outputs())] == [Evidence.CHECK_TIMEOUT]
    assert c.started_at == engine_time(raw["State"]["StartedAt"]) > 0
    assert c.finished_at == 0.0  # "0001-01-01T00:00:00Z": never stopped
    assert c.stop_timeout == 7 and c.image == "compose-healer-test/busybox"
    assert c.healthcheck == Healthcheck(interval=1.0, timeout=0.5, start_period=2.0, retries=2)
    assert availability_timeout(c.healthcheck, 10) == 10 + 2.0 + 3 * 1.5
    assert (c.restart_policy, c.restart_count, c.restarts_climbing) == ("unless-stopped", 0, False)
    assert c.labels["com.docker.compose.service"] == "web"
    assert (c.network_mode, c.fixed_host_ports, c.static_ip_networks) == ("none", (), ())
    assert failing(Condition.UNHEALTHY, c)


def test_a_healthy_container_and_dockers_default_check_timings() -> None:
    c = state_from_inspect(sample("inspect-healthy"))
    assert c.health == "healthy" and c.available and c.up
    assert c.failing_outputs() == [] and not failing(Condition.UNHEALTHY, c)
    # Only the interval was set: 0 stands for Docker's defaults (30 s timeout, 3 retries).
    assert c.healthcheck == Healthcheck(interval=1.0)
    assert availability_timeout(c.healthcheck, 10) == 10 + 4 * (1.0 + 30.0)
    assert c.stop_timeout is None and c.restart_policy == "no"


def test_an_exited_plain_container() -> None:
    c = state_from_inspect(sample("inspect-exited"))
    # No compose label: the one container of service `-/<name>`.
    assert (c.project, c.service) == ("-", "state-sample-exited")
    assert c.stopped and not c.running and c.exit_code == 3
    assert c.health is None and c.health_log == () and c.healthcheck is None
    assert c.finished_at is not None and c.finished_at > 0
    assert failing(Condition.EXITED, c)
    assert container_times(c).finished_at == c.finished_at


def test_a_container_never_started_has_zero_times() -> None:
    c = state_from_inspect(sample("inspect-created"))
    assert c.status == "created" and not c.stopped
    assert (c.started_at, c.finished_at) == (0.0, 0.0)


def test_a_crash_loop_climbs_its_restart_count() -> None:
    c = state_from_inspect(sample("inspect-crashloop"))
    assert c.restart_policy == "always" and c.restart_count == 5
    assert c.restarts_climbing and failing(Condition.RESTARTING, c)


def test_a_list_entry_fills_what_it_can_and_leaves_the_rest_unknown() -> None:
    raw = sample("inspect-listed")
    entry = cast(ListEntry, sample("list-entry-listed"))
    view = view_from_list_entry(entry)
    assert view is not None
    listed = state_from_list(view, fixed_of(raw))
    inspected = state_from_inspect(raw)
    only_inspect = {
        "exit_code",  # a running container's list entry has no "Exited (n)"
        "oom_killed",
        "health_log",
        "started_at",
        "finished_at",
        "restart_count",
        "restart_policy",
        "fixed_host_ports",
        "static_ip_networks",
    }
    for f in fields(ContainerState):
        if f.name in only_inspect:
            assert getattr(listed, f.name) is None, f.name
        elif f.name not in ("labels", "created"):
            assert getattr(listed, f.name) == getattr(inspected, f.name), f.name
    assert dict(listed.labels) == dict(inspected.labels)
    assert 0 <= inspected.created - listed.created < 1  # the list gives whole seconds
    assert listed.hostname == "web3" and listed.stop_timeout == 4
    assert listed.health == "unhealthy" and failing(Condition.UNHEALTHY, listed)
    assert listed.failing_outputs() == []  # no log: the storm brake inspects for it


def test_an_inspect_refreshes_a_stale_list_view() -> None:
    entry = cast(ListEntry, sample("list-entry-listed"))
    view = view_from_list_entry(entry)
    assert view is not None
    exited = state_from_inspect(
        {"Id": view.id, "State": {"Status": "exited", "ExitCode": 137, "Running": False}}
    )
    fresh = refresh_from_inspect(view, exited)
    assert (fresh.state, fresh.health, fresh.exit_code) == ("exited", None, 137)


def test_sparse_and_odd_payloads_are_read_without_guessing() -> None:
    c = state_from_inspect({})
    assert (c.id, c.name, c.status, c.running, c.exit_code, c.health) == (
        "",
        "?",
        "",
        False,
        None,
        None,
    )
    assert (c.health_log, c.started_at, c.restart_count, c.restart_policy) == ((), 0.0, 0, "no")
    assert c.healthcheck is None and c.stop_timeout is None and c.network_mode == "default"
    odd = state_from_inspect(
        {
            "Name": "/x",
            "Config": None,
            "HostConfig": None,
            "State": {"Health": {"Status": "starting", "Log": None}, "ExitCode": None},
            "RestartCount": "3",
            "Created": "yesterday",
        }
    )
    assert odd.created == 0.0
    assert odd.health == "starting" and odd.health_log == () and odd.exit_code is None
    assert odd.restart_count == 0 and odd.labels == {}
    log = ["junk", {"Output": "late", "Start": 5}]
    mixed = state_from_inspect(
        {"State": {"Health": {"Status": "unhealthy", "Log": log}, "StartedAt": None}}
    )
    assert mixed.started_at == 0.0 and mixed.health_log is not None
    assert mixed.health_log[0].start == 5.0
    # A probe without an exit code is a failure; one that is not an object is skipped.
    assert mixed.failing_outputs() == ["late"]
    disabled = {"Healthcheck": {"Test": ["NONE"]}, "StopTimeout": "5", "Labels": None}
    assert fixed_of({"Config": disabled}) == Fixed(stop_timeout=None)
    bad_number = {"Config": {"Labels": {"com.docker.compose.container-number": "x"}}}
    assert state_from_inspect(bad_number).number == 1


def test_what_start_first_reads_comes_from_the_whole_inspect() -> None:
    raw = sample("inspect-timeout")
    ports = {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "81/tcp": [{"HostPort": "9000-9010"}]}
    raw["HostConfig"] = {**raw["HostConfig"], "PortBindings": ports, "NetworkMode": "back"}
    raw["NetworkSettings"] = {
        "Networks": {"back": {"IPAMConfig": {"IPv4Address": "10.5.0.9"}}, "front": None}
    }
    raw["Name"] = "/sample-web-1"
    c = state_from_inspect(raw)
    assert c.fixed_host_ports == ("8080->80/tcp",) and c.static_ip_networks == ("back",)
    why = choose(Order.START_FIRST, c).why
    assert "8080->80/tcp" in why and "static IP address on back" in why
