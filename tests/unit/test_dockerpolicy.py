"""The worker proxy's pure decisions: reading a body as Docker does, the clone rule, routes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from healer.core.dockerpolicy.clone import clone_refusal, read_create
from healer.core.dockerpolicy.jsonfold import BodyError, fold, parse
from healer.core.dockerpolicy.routes import Kind, match, truthy

REF: dict[str, Any] = {
    "Id": "a" * 64,
    "Image": "sha256:" + "b" * 64,
    "Config": {
        "Image": "app:1",
        "Cmd": ["serve"],
        "User": "1000",
        "Env": ["A=1"],
        "Labels": {"com.docker.compose.project": "p", "com.docker.compose.service": "web"},
    },
    "HostConfig": {
        "NetworkMode": "p_default",
        "Binds": ["p_data:/data:rw"],
        "CapDrop": ["ALL"],
        "CapAdd": ["NET_BIND_SERVICE"],
        "SecurityOpt": ["no-new-privileges:true"],
        "ReadonlyRootfs": True,
        "MaskedPaths": ["/proc/kcore"],
        "Mounts": [{"Type": "volume", "Source": "c" * 64, "Target": "/cache"}],
        "PidMode": "",
        "CgroupnsMode": "private",
    },
    "NetworkSettings": {"Networks": {"p_default": {"IPAMConfig": None}}},
}


def _clone(**host: Any) -> dict[str, Any]:
    body = copy.deepcopy(REF["Config"])
    body["HostConfig"] = {**copy.deepcopy(REF["HostConfig"]), **host}
    body["NetworkingConfig"] = {"EndpointsConfig": {"p_default": {"Aliases": ["web"]}}}
    return dict(body)


def _refusal(body: dict[str, Any], project_of: Any = lambda _ref: None) -> str | None:
    return clone_refusal(read_create(body), [REF], project_of)


def test_a_faithful_clone_passes_and_a_fresh_anonymous_volume_too() -> None:
    assert _refusal(_clone()) is None
    assert _refusal(_clone(Mounts=[{"Type": "volume", "Target": "/cache"}])) is None
    assert _refusal({**_clone(), "Image": REF["Image"]}) is None
    assert _refusal(_clone(CapAdd=[], CapDrop=["ALL", "CHOWN"])) is None  # narrower is fine


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ({"Binds": ["/:/host"]}, "binds"),
        ({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}, "mount"),
        ({"CapAdd": ["CAP_SYS_ADMIN"]}, "capabilities"),
        ({"CapDrop": []}, "not dropped"),
        ({"Privileged": True}, "privileged"),
        ({"PidMode": "host"}, "pid"),
        ({"UsernsMode": "host"}, "user namespace"),
        ({"CgroupnsMode": ""}, "cgroup namespace"),
        ({"NetworkMode": "host"}, "network mode"),
        ({"Devices": [{"PathOnHost": "/dev/sda"}]}, "devices"),
        ({"SecurityOpt": []}, "security options"),
        ({"Sysctls": {"kernel.x": "1"}}, "sysctls"),
        ({"VolumesFrom": ["other"]}, "volumes from"),
        ({"MaskedPaths": []}, "masked paths"),
        ({"ReadonlyRootfs": False}, "read-only"),
        ({"OomScoreAdj": -1000}, "HostConfig.oomscoreadj"),
        ({"SomeFutureKnob": "wide"}, "HostConfig.somefutureknob"),
    ],
)
def test_anything_wider_than_the_service_is_refused(host: dict[str, Any], why: str) -> None:
    refusal = _refusal(_clone(**host))
    assert refusal is not None and why in refusal, refusal


def test_what_runs_and_where_it_attaches_must_be_the_services() -> None:
    assert "user" in str(_refusal({**_clone(), "User": ""}))
    assert "cmd" in str(_refusal({**_clone(), "Cmd": ["sh"]}))
    assert "image" in str(_refusal({**_clone(), "Image": "evil"}))
    foreign = {**_clone(), "NetworkingConfig": {"EndpointsConfig": {"q_default": {}}}}
    assert "network" in str(_refusal(foreign))
    assert "no existing container" in str(clone_refusal(read_create(_clone()), [], lambda r: None))


def test_a_sharer_may_join_a_container_of_its_own_project_only() -> None:
    sharer = copy.deepcopy(REF)
    sharer["HostConfig"]["NetworkMode"] = "container:" + "d" * 64
    body = _clone(NetworkMode="container:new")
    req = read_create(body)
    ok = clone_refusal(req, [sharer], lambda ref: "p" if ref == "new" else None)
    assert ok is None
    assert clone_refusal(req, [sharer], lambda ref: "other") is not None
    assert _refusal(body, lambda ref: "p") is not None  # the service itself shares nothing


def test_keys_are_read_case_insensitively_and_ambiguity_is_refused() -> None:
    body = _clone()
    body["hostconfig"] = {**body.pop("HostConfig"), "PRIVILEGED": True}
    assert "privileged" in str(_refusal(body))
    with pytest.raises(BodyError, match="twice"):
        fold({"Privileged": False, "privileged": True})
    with pytest.raises(BodyError, match="non-ASCII"):
        fold({"Bind\u017f": []})  # Go folds the long s into an s
    with pytest.raises(BodyError, match="duplicate"):
        parse(b'{"a": 1, "a": 2}')
    for bad in (b"[1]", b'{"a": NaN}', b"\xff", b"{"):
        with pytest.raises(BodyError):
            parse(bad)


def test_routes_are_the_workers_calls_only() -> None:
    assert match("POST", "/v1.44/containers/create") is not None
    call = match("DELETE", "/containers/abc")
    assert call is not None and call.kind is Kind.REMOVE and call.ref == "abc"
    for method, path in [
        ("POST", "/containers/abc/exec"),
        ("GET", "/containers/abc/logs"),
        ("POST", "/containers/abc/update"),
        ("GET", "/containers/../json"),
        ("GET", "/images/a/../b/json"),
        ("GET", "//containers/json"),
        ("POST", "/networks/n/disconnect"),
    ]:
        assert match(method, path) is None, (method, path)
    assert truthy("1") and truthy("True") and not truthy("0") and not truthy("false")


def test_a_call_is_forwarded_for_the_id_that_was_checked() -> None:
    call = match("POST", "/v1.41/containers/web-1/stop")
    assert call is not None and call.naming("f" * 64) == f"/v1.41/containers/{'f' * 64}/stop"
    image = match("DELETE", "/images/sha256:abc")
    assert image is not None and image.naming("sha256:def") == "/images/sha256:def"


def test_a_clone_cannot_run_another_command_through_its_healthcheck() -> None:
    hook = {"Test": ["CMD", "sh", "-c", "curl --unix-socket /var/run/docker.sock ..."]}
    assert "healthcheck" in str(_refusal({**_clone(), "Healthcheck": hook}))


def test_a_clone_cannot_grant_itself_healer_labels() -> None:
    body = _clone()
    body["Labels"] = {**body["Labels"], "healer.alerts.actions": "signal:KILL"}
    assert "healer.* labels" in str(_refusal(body))
