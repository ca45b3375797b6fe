"""Model vocabulary: service ids and RepairRequest's Celery kwargs round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.core.model import (
    Action,
    Condition,
    ContainerId,
    ContainerView,
    RepairRequest,
    ServiceId,
    Source,
    service_id,
    split_service_id,
)

PROPS = settings(max_examples=80, deadline=None)

names = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=20)
requests = st.builds(
    RepairRequest,
    sid=st.builds(service_id, names, names),
    condition=st.sampled_from(Condition),
    action=st.sampled_from(Action),
    container_ids=st.lists(st.text(max_size=64).map(ContainerId), max_size=4).map(tuple),
    detail=st.text(max_size=40),
    source=st.sampled_from(list(Source)),
    request_id=st.text(max_size=36),
)


def test_service_id_round_trip() -> None:
    sid = service_id("shop", "web")
    assert sid == "shop/web"
    assert split_service_id(sid) == ("shop", "web")


def test_split_service_id_without_a_project() -> None:
    assert split_service_id(ServiceId("web")) == ("web", "")


def test_container_view_service_id_and_label_free_equality() -> None:
    a = ContainerView(ContainerId("c1"), "shop-web-1", "shop", "web", 1, "running", None, None)
    b = ContainerView(
        ContainerId("c1"), "shop-web-1", "shop", "web", 1, "running", None, None, {"x": "y"}
    )
    assert a.service_id == ServiceId("shop/web")
    assert a == b  # labels take no part in equality
    assert hash(a) == hash(b)


@PROPS
@given(requests)
def test_request_survives_celery_json(req: RepairRequest) -> None:
    kwargs = json.loads(json.dumps(req.to_kwargs()))
    back = RepairRequest.from_kwargs(kwargs)
    assert back == req
    assert isinstance(back.condition, Condition)
    assert isinstance(back.action, Action)
    assert isinstance(back.container_ids, tuple)


def test_to_kwargs_is_plain_data() -> None:
    req = RepairRequest(
        ServiceId("shop/web"),
        Condition.UNHEALTHY,
        Action.RESTART,
        (ContainerId("c1"), ContainerId("c2")),
        "healthcheck failing",
        Source.API,
        "req-1",
    )
    assert req.to_kwargs() == {
        "sid": "shop/web",
        "condition": "unhealthy",
        "action": "restart",
        "container_ids": ["c1", "c2"],
        "detail": "healthcheck failing",
        "source": "api",
        "request_id": "req-1",
    }
    assert type(req.to_kwargs()["condition"]) is str


def test_from_kwargs_fills_the_optional_fields() -> None:
    req = RepairRequest.from_kwargs({"sid": "shop/web", "condition": "exited", "action": "start"})
    assert req == RepairRequest(ServiceId("shop/web"), Condition.EXITED, Action.START)
    assert (req.container_ids, req.detail, req.source, req.request_id) == ((), "", "probe", "")


def test_from_kwargs_accepts_a_tuple_of_ids() -> None:
    req = RepairRequest.from_kwargs(
        {"sid": "a/b", "condition": "manual", "action": "restart", "container_ids": ("x",)}
    )
    assert req.container_ids == ("x",)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sid": "a/b", "condition": "sad", "action": "restart"},
    ],
)
def test_from_kwargs_rejects_unknown_names(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RepairRequest.from_kwargs(kwargs)


@pytest.mark.parametrize("action", ["signal:HUP", "example-exec"])
def test_signal_and_plugin_actions_survive_celery_json(action: str) -> None:
    # Which plugins exist is known where the request is made and where it runs (both
    # check it); the request itself carries the name as it is.
    req = RepairRequest(ServiceId("a/b"), Condition.ALERT, action)
    back = RepairRequest.from_kwargs(json.loads(json.dumps(req.to_kwargs())))
    assert back == req and back.action == action


def test_from_kwargs_needs_the_required_keys() -> None:
    with pytest.raises(KeyError):
        RepairRequest.from_kwargs({"condition": "unhealthy", "action": "restart"})


def test_enum_values_are_the_contract_names() -> None:
    assert {c.value for c in Condition} >= {
        "unhealthy",
        "exited",
        "restarting",
        "memory",
        "cpu",
        "network",
        "disk",
        "alert",
        "manual",
    }
    assert {a.value for a in Action} >= {"restart", "start", "stop_start", "cleanup"}
