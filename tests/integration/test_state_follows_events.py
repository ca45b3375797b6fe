"""What the healer reports (/metrics, and with it the shipped alerts) follows a container's
start, health transitions and removal within seconds, not at the next reconcile.

WATCHDOG_INTERVAL is ten minutes here, so only the events path can explain a fresh report.
Before, a recovery waited for the next reconcile: with an interval of a minute or more,
ContainerUnhealthy (`healer_container_healthy == 0` for 1 m) fired on containers that had
long turned healthy, and Alertmanager had the healer restart them; a service removed on
purpose kept its last `exited` for 3 x WATCHDOG_INTERVAL, long enough for ContainerDown."""

from __future__ import annotations

import time
from functools import partial

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory

AUTH = {"Authorization": "Bearer test-token-0123456789"}
STARTS_IN = 8  # seconds the service's healthcheck stays `starting` after each start
SLOW_START = f"sleep {STARTS_IN}; touch /tmp/healthy; exec sleep 2147483647"


def _container_series(url: str, container: str) -> dict[str, float]:
    """healer_container_* sample name → value, for one container."""
    text = httpx.get(f"{url}/metrics", headers=AUTH, timeout=10).text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("healer_container_") and s.labels.get("container") == container
    }


def _healthy_in_metrics(url: str, container: str) -> bool:
    return _container_series(url, container).get("healer_container_healthy") == 1.0


def test_a_start_a_recovery_and_a_removal_reach_the_metrics_before_the_next_reconcile(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(
        compose_yaml(
            healthy_service_yaml(test_image, "web", command=SLOW_START, start_period="60s"),
            healthy_service_yaml(test_image, "extra"),
        ),
        wait=True,
    )
    web, extra = project.container("web"), project.container("extra")
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="600")
    stack.worker(concurrency=2)
    stack.events()  # its start-up reconcile is the only one in this test
    url = stack.api()
    for name in (web.name, extra.name):
        wait_until(
            partial(_healthy_in_metrics, url, name),
            30,
            message=f"the start-up reconcile's report of {name}:\n" + stack.tail(),
        )

    rec = docker_events(project)
    web.restart(timeout=2)  # by hand, as an operator would: the healer is not acting
    rec.wait_for("start", "web", timeout=30)

    # Starting: running, and no healthy series at all (0 would mean a failing check, which
    # is what ContainerUnhealthy fires on).
    def running() -> dict[str, float] | None:
        series = _container_series(url, web.name)
        return series if series.get("healer_container_up") == 1.0 else None

    starting = wait_until(
        running, STARTS_IN - 2, message="web reported running while its check starts"
    )
    assert "healer_container_healthy" not in starting, starting

    healthy = rec.wait_for("health_status: healthy", "web", timeout=30)[0]
    wait_until(
        lambda: _container_series(url, web.name).get("healer_container_healthy") == 1.0,
        10,
        message="web reported healthy:\n" + stack.tail(),
    )
    took = time.time() - healthy["time_ns"] / 1e9
    print(f"healthy in /metrics {took:.1f}s after Docker said so (WATCHDOG_INTERVAL 600 s)")

    # Removed on purpose (what `docker compose rm -sf extra` does): no longer reported as a
    # container that is down. (Its resource ratios go at the next reconcile; no alert reads
    # them as down.)
    extra.stop(timeout=2)
    extra.remove()
    rec.wait_for("destroy", "extra", timeout=30)
    reported = ("healer_container_up", "healer_container_healthy")
    wait_until(
        lambda: not set(_container_series(url, extra.name)) & set(reported),
        10,
        message="extra's up and healthy series gone from /metrics:\n" + stack.tail(),
    )
    assert f"{project.name}/extra" not in stack.status()["services"]
