"""A plugin strategy is checked against the host that will run it: each agent publishes its
installed strategies with its heartbeat, and the API (repairs and alerts) asks the service's
own host, not the machine the API runs on. Real Redis and the real app, served for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from healer.adapters.store.hosts import HostRegistry
from healer.core.model import HostId, ServiceId
from healer.engine.repair.actions import STRATEGIES_FIELD
from tests.integration.test_alerts_api import OPERATOR as AUTH
from tests.integration.test_alerts_api import alert, alerts_app, only, post, serve

WITH, WITHOUT, OLD = HostId("node-with"), HostId("node-without"), HostId("node-old")
WEB = ServiceId("shop/web")
ONLY_THERE = "blue-green-swap"  # installed on node-with only (not on this machine either)


@pytest.fixture
def cluster(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[str]:
    registry = HostRegistry(redis_client, 60)
    registry.heartbeat(WITH, {STRATEGIES_FIELD: f"{ONLY_THERE},other"})
    registry.heartbeat(WITHOUT, {STRATEGIES_FIELD: ""})
    registry.heartbeat(OLD, {"engine_name": "vm"})  # an agent from before: publishes none
    for host in (WITH, WITHOUT, OLD):
        registry.publish_services(host, [WEB])
    with serve(alerts_app(redis_url=redis_url, log_dir=tmp_path, host="node-api")) as url:
        yield url


def _repair(url: str, target: str, action: str) -> httpx.Response:
    return httpx.post(f"{url}/repair/{target}", headers=AUTH, json={"action": action}, timeout=30)


def test_a_repair_names_a_strategy_its_host_has(cluster: str) -> None:
    resp = _repair(cluster, f"{WITH}/{WEB}", ONLY_THERE)
    assert resp.status_code == 202, resp.text
    assert (resp.json()["host"], resp.json()["action"]) == (WITH, ONLY_THERE)


def test_a_strategy_missing_on_the_services_host_is_refused_naming_the_host(
    cluster: str,
) -> None:
    resp = _repair(cluster, f"{WITHOUT}/{WEB}", ONLY_THERE)
    assert resp.status_code == 422, resp.text
    assert ONLY_THERE in resp.text and f"not installed on host '{WITHOUT}'" in resp.text


def test_a_strategy_no_host_has_is_refused_and_an_old_agent_is_not_second_guessed(
    cluster: str,
) -> None:
    resp = _repair(cluster, f"{WITH}/{WEB}", "no-such-strategy")
    assert resp.status_code == 422 and "unknown action 'no-such-strategy'" in resp.text
    # An agent that publishes no list: the repair goes to it (its worker reports the outcome).
    assert _repair(cluster, f"{OLD}/{WEB}", ONLY_THERE).status_code == 202
    # Built-ins need no list.
    assert _repair(cluster, f"{WITHOUT}/{WEB}", "restart").status_code == 202


def test_an_alert_for_a_host_without_the_strategy_is_skipped_with_the_reason(
    cluster: str,
) -> None:
    # Installed there, but an alert may run a plugin only where the service's label allows
    # it, and the API reads labels on its own host only: another host's service gets the
    # default actions.
    there = only(post(cluster, alert(str(WEB), host=WITH, action=ONLY_THERE)))
    assert (there["decision"], there["reason"], there["host"]) == ("skipped", "not_allowed", WITH)
    missing = only(post(cluster, alert(str(WEB), host=WITHOUT, action=ONLY_THERE)))
    assert (missing["decision"], missing["reason"]) == ("skipped", "unknown_action"), missing
    restart = only(post(cluster, alert(str(WEB), host=WITH, action="restart")))
    assert (restart["decision"], restart["host"]) == ("queued", WITH), restart
