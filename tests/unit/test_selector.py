"""What is managed: the default, a label selector, docker-autoheal's label or `all`."""

from __future__ import annotations

import pytest

from healer.adapters.docker.engine import ListEntry, plain_view_from_list_entry
from healer.core.model import ServiceId
from healer.core.selection.listing import list_filters
from healer.core.selection.selector import (
    Selector,
    SelectorError,
    from_autoheal,
    is_plain,
    parse_selector,
)

COMPOSE = {"com.docker.compose.project": "shop", "com.docker.compose.service": "web"}


def test_the_default_is_every_compose_project_and_autoheal_true_plain_containers() -> None:
    s = Selector()
    assert s.is_default
    assert s.matches(COMPOSE, compose=True)
    assert not s.matches({}, compose=False)
    assert s.matches({"autoheal": "true"}, compose=False)
    assert s.plain_filters() == ["autoheal=true"]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("healer.enable=true", {"healer.enable": "true"}, True),
        ("healer.enable=true", {"healer.enable": "false"}, False),
        ("healer.enable=true", {}, False),
        ("autoheal", {"autoheal": "anything"}, True),
        ("autoheal", {}, False),
        ("a=1,b", {"a": "1", "b": ""}, True),
        ("a=1,b", {"a": "1"}, False),
    ],
)
def test_a_label_selector_needs_every_label(
    text: str, labels: dict[str, str], expected: bool
) -> None:
    s = parse_selector(text)
    assert s.matches({**COMPOSE, **labels}, compose=True) is expected
    assert s.matches(labels, compose=False) is expected


def test_engine_filters_are_the_selector_as_the_engine_reads_it() -> None:
    assert parse_selector(" a=1 , b ").engine_filters() == ["a=1", "b"]


@pytest.mark.parametrize("text", ["=x", "a b=1", "a,=2", "ü=1"])
def test_bad_selectors_raise(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


def test_autoheal_label_means_that_label_equals_true() -> None:
    s = from_autoheal("autoheal")
    assert s.engine_filters() == ["autoheal=true"]
    assert s.matches({"autoheal": "true"}, compose=False)
    assert not s.matches({"autoheal": "yes"}, compose=False)
    assert from_autoheal("") == Selector()


def test_autoheal_all_is_every_container_but_those_that_opt_out() -> None:
    s = from_autoheal("all")
    assert s.everything and s.engine_filters() == []
    assert s.matches({}, compose=False)
    assert s.matches(COMPOSE, compose=True)
    assert not s.matches({"autoheal": "False"}, compose=False)


def plain(labels: dict[str, str], name: str = "/cache") -> ListEntry:
    return {
        "Id": "b" * 64,
        "Names": [name],
        "State": "running",
        "Status": "Up 2 minutes (unhealthy)",
        "Labels": labels,
    }


def test_a_plain_container_is_a_one_container_service() -> None:
    v = plain_view_from_list_entry(plain({"autoheal": "true"}))
    assert v is not None
    assert (v.service_id, v.name, v.number, v.health) == ("-/cache", "cache", 1, "unhealthy")
    assert v.labels == {"autoheal": "true"}  # no made-up compose labels
    assert is_plain(v.service_id) and not is_plain(ServiceId("shop/web"))


def test_a_compose_container_is_not_read_as_plain() -> None:
    assert plain_view_from_list_entry(plain(COMPOSE)) is None


# --- the list calls --------------------------------------------------------------------------


def test_the_default_lists_compose_and_autoheal_true_plain_containers() -> None:
    assert list_filters(Selector()) == [
        {"label": ["com.docker.compose.project"]},
        {"label": ["autoheal=true"]},
    ]
    # HEALER_PROJECTS without `-`: compose only, as before
    assert list_filters(Selector(), plain_managed=False) == [
        {"label": ["com.docker.compose.project"]}
    ]


def test_a_selector_takes_one_call_and_all_takes_no_label() -> None:
    assert list_filters(parse_selector("healer.enable=true")) == [{"label": ["healer.enable=true"]}]
    assert list_filters(from_autoheal("all")) == [{"label": []}]


def test_one_plain_service_is_found_by_its_exact_name() -> None:
    (only,) = list_filters(Selector(), ServiceId("-/my.cache"))
    assert only == {"name": [r"^/my\.cache$"], "label": []}
    (compose,) = list_filters(Selector(), ServiceId("shop/web"))
    assert compose["label"] == [
        "com.docker.compose.project=shop",
        "com.docker.compose.service=web",
    ]


def test_one_project_keeps_the_selector() -> None:
    (f,) = list_filters(parse_selector("team=a"), project="shop")
    assert f["label"] == ["com.docker.compose.project=shop", "team=a"]
    assert list_filters(Selector(), project="-", plain_managed=False) == []
