"""The repair-storm brake under load: many services with tight healthchecks turn unhealthy at
once while the host's CPU is saturated. The healer must stay within the brake's rate (a few
repairs before the brake engages, then one per HEALER_STORM_INTERVAL), say why in the
history and the metrics, and still start a crashed container at once."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import time

import pytest
import redis

from healer.adapters.metrics.series import HealerCollector
from healer.adapters.overload.pressure import read_pressure
from healer.adapters.store import keys
from healer.adapters.store.history import History
from healer.adapters.store.hosts import HostRegistry
from healer.core.model import HostId
from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory

SERVICES = [f"s{i}" for i in range(8)]
MIN_SERVICES = 4
INTERVAL = 20.0
SHARE = 0.55
OBSERVE = 25.0  # seconds of storm watched: more than one trickle interval
BURNERS = (os.cpu_count() or 2) + 1
PRESSURE = 60.0  # above the default HEALER_STORM_CPU_PRESSURE (50)


def cpu_pressure() -> float:
    """The host's CPU pressure in percent, as the healer's brake reads it (PSI `some avg10`)."""
    return read_pressure().cpu_some or 0.0


BURN = "while :; do :; done"

# Alone: its CPU burners saturate the host, and it counts repairs per interval.
pytestmark = pytest.mark.serial


def test_a_storm_of_unhealthy_services_is_repaired_at_the_brakes_rate(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    redis_client: redis.Redis,
    test_image: str,
) -> None:
    yaml = compose_yaml(*(healthy_service_yaml(test_image, s, interval="500ms") for s in SERVICES))
    project = compose_project(yaml, wait=True)
    # CPU burners in a project the healer does not manage: more runnable work than the host
    # has cores, so its CPU pressure (PSI) is the brake's evidence of overload.
    burners = compose_project(
        compose_yaml(
            *(
                healthy_service_yaml(test_image, f"burn{i}", "cpus: 1.0", command=BURN)
                for i in range(BURNERS)
            )
        ),
        "burn",
    )
    wait_until(
        lambda: cpu_pressure() >= PRESSURE,
        timeout=90,
        interval=1,
        message=f"host CPU pressure (PSI avg10) to reach {PRESSURE}%: {cpu_pressure()}",
    )
    rec = docker_events(project.name)
    stack = healer_stack(
        project.name,
        WATCHDOG_INTERVAL="5",
        HEALER_STORM_MIN_SERVICES=str(MIN_SERVICES),
        HEALER_STORM_SHARE=str(SHARE),
        HEALER_STORM_INTERVAL=str(INTERVAL),
        HEALER_STORM_WINDOW="120",
    )
    stack.worker()
    stack.events()
    stack.beat()
    try:
        for s in SERVICES:
            # Under this load a 500 ms healthcheck may already have failed and the healer
            # be restarting the container: an exec that misses is part of the storm.
            cid = project.container(s).id
            subprocess.run(["docker", "exec", cid, "rm", "/tmp/healthy"], check=False)
        first = rec.wait_for("restart", None, timeout=60)[0]["time_ns"] / 1e9
        history = History(redis_client, 10_000)

        def braked() -> int:
            return sum(1 for e in history.query() if e.reason == "storm_brake")

        # Positive signals: the brake engaged and skipped repairs, and the window elapsed.
        wait_until(lambda: braked() >= 3, timeout=60, message="storm_brake skips:\n" + stack.tail())
        # The brake is this machine's host's (HEALER_HOST, by default the hostname).
        host = HostId(stack.env.get("HEALER_HOST") or socket.gethostname())
        collector = HealerCollector(redis_client, HostRegistry(redis_client, 30.0), host)
        metrics = {m.name: m for m in collector.collect()}
        brake = {x.labels["host"]: x.value for x in metrics["healer_repair_storm_brake"].samples}
        assert brake[host] == 1.0
        # A crash during the storm is started at once, brake or not.
        crashed = next(s for s in SERVICES if not rec.events("restart", s))
        project.container(crashed).kill()
        rec.wait_for("start", crashed, timeout=20)
        wait_until(lambda: time.time() > first + OBSERVE, timeout=OBSERVE + 5)
        restarts = [e for e in rec.events("restart") if e["time_ns"] / 1e9 <= first + OBSERVE]
        # Before the brake engages (at max(MIN_SERVICES, ceil(share × N)) unhealthy services)
        # the repairs go freely; then the one that engages it is the trickle's first, and one
        # more per INTERVAL.
        engages_at = max(MIN_SERVICES, math.ceil(SHARE * len(SERVICES)))
        allowed = (engages_at - 1) + 1 + int(OBSERVE // INTERVAL)
        assert len(restarts) <= allowed, rec.describe()
        assert len(restarts) < len(SERVICES), "the brake must have held some repairs back"
        notes = [e for e in history.query(service="host") if e.reason == "storm_brake"]
        assert notes and "slowed" in notes[0].detail
        assert redis_client.exists(keys.storm_braked(host))
    finally:
        burners.run("down", "-t", "0", check=False)
