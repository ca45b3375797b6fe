"""Flower's Config tab (`celery inspect conf`) shows no Redis password, whatever the key."""

from __future__ import annotations

from types import SimpleNamespace

from celery.worker.control import Panel

from healer.adapters.queue import make_celery
from healer.settings import Settings
from workers import conf_view


def test_the_conf_command_masks_every_password() -> None:
    app = make_celery(Settings(redis_url="redis://:hunter2-secret@redis:6379/0"))
    assert "hunter2" in str(app.conf.table(with_defaults=False))  # what celery alone shows
    assert Panel.data["conf"] is conf_view.conf  # the worker answers with this one
    shown = conf_view.conf(SimpleNamespace(app=app))
    assert "hunter2" not in str(shown)
    assert shown["redbeat_redis_url"] == "redis://:********@redis:6379/0"


def test_masking_leaves_urls_without_a_password_alone() -> None:
    assert conf_view.masked("redis://redis:6379/0") == "redis://redis:6379/0"
    assert conf_view.masked("rediss://u:p@h/1") == "rediss://u:********@h/1"
    assert conf_view.masked({"a": "redis://:p@h"}) == {"a": "redis://:********@h"}
