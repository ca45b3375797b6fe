"""The plugin runner on its own: the installed example strategies in a real child process."""

from __future__ import annotations

import time

import pytest

from healer.adapters.plugins import strategies as plugins

pytestmark = pytest.mark.usefixtures("docker_client")  # the context's client talks to it


def _run(action: str, timeout: float = 20.0) -> str:
    req = plugins.RunRequest(action, "chtest-none/web", ["0" * 64], "alert", "test")
    return plugins.run(req, timeout)


def test_example_strategies_are_discovered_with_their_distribution() -> None:
    found = {p.name: p for p in plugins.discover(load=True)}
    for name in ("example-exec", "example-fail", "example-hang"):
        assert found[name].origin == "compose-healer-example-strategy 0.1.0"
        assert found[name].error == ""
    assert {"example-exec", "example-fail", "example-hang"} <= plugins.available()


def test_a_raising_strategy_fails_with_its_error_and_its_log() -> None:
    with pytest.raises(plugins.PluginFailed) as exc:
        _run("example-fail")
    assert "example failure for chtest-none/web (1 containers)" in str(exc.value)
    assert "RuntimeError" in str(exc.value)


@pytest.mark.serial  # alone: a kill within 6 s, child start included
def test_a_hanging_strategy_is_killed_at_its_limit() -> None:
    started = time.monotonic()
    with pytest.raises(plugins.PluginFailed, match="did not finish within 2s; killed"):
        _run("example-hang", timeout=2)
    # The limit, plus the kill and reaping; nothing like the plugin's own hour-long sleep.
    assert 2 <= time.monotonic() - started < 6


def test_an_unknown_strategy_fails_naming_the_group() -> None:
    with pytest.raises(plugins.PluginFailed, match="no strategy named 'nope'"):
        _run("nope")
