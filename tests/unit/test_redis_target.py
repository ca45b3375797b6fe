"""Sentinel URLs in kombu's form, and the options every Redis user gets from one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from healer.adapters.redisha.target import RedisTarget
from healer.adapters.store.connection import target
from healer.core.redis_url import redact_url
from healer.settings import Settings

URL = "sentinel://:s3cret@h1:26379;sentinel://h2:26380;sentinel://h3/2"


def test_a_sentinel_url_names_every_sentinel_the_database_and_the_redis_password() -> None:
    t = RedisTarget(URL, master="prod")
    assert t.is_sentinel
    assert t.sentinels == [("h1", 26379), ("h2", 26380), ("h3", 26379)]
    assert t.db == 2 and t.password == "s3cret"
    assert t.transport_options()["master_name"] == "prod"


def test_redbeat_gets_its_own_sentinel_form() -> None:
    url, options = RedisTarget(URL, master="prod", sentinel_password="sp").redbeat()
    assert url == "redis-sentinel://h1:26379/2"
    assert options["service_name"] == "prod" and options["password"] == "s3cret"
    assert options["sentinels"][1] == ("h2", 26380)
    assert options["sentinel_kwargs"]["password"] == "sp"


def test_one_redis_keeps_its_url_and_no_transport_options() -> None:
    t = RedisTarget("redis://:pw@localhost:6379/0")
    assert not t.is_sentinel and t.transport_options() == {}
    assert t.redbeat() == ("redis://:pw@localhost:6379/0", {})


def test_settings_wait_for_one_replica_only_with_sentinel() -> None:
    assert Settings(redis_url=URL).wait_replicas == 1
    assert Settings(redis_url="redis://localhost/0").wait_replicas == 0
    assert Settings(redis_url=URL, redis_wait_replicas=0).wait_replicas == 0
    t = target(Settings(redis_url=URL, sentinel_master="m2", sentinel_password="x"))
    assert t.master == "m2" and t.sentinel_password == "x" and t.wait_replicas == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sentinel://h1:26379;redis://h2:6379/0", "is not sentinel://host:port"),
        ("sentinel://h1:port/0", "bad port"),
        ("sentinel://h1:26379/zero", "the database is a number"),
    ],
)
def test_a_bad_sentinel_url_is_refused_naming_the_part(url: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(redis_url=url)


def test_a_refusal_never_repeats_the_password_even_of_a_part_too_broken_to_parse() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(redis_url="sentinel://u:hunter2@h1:port/0")
    assert "bad port" in str(refused.value) and "hunter2" not in str(refused.value)
    assert "u:***@h1:port" in str(refused.value)


def test_the_password_is_redacted_in_every_part() -> None:
    assert "s3cret" not in redact_url(URL)
    assert redact_url(URL).startswith("sentinel://:***@h1:26379;sentinel://h2:26380")
