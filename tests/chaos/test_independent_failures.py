"""Independent failures spread over time are each repaired at once, brake or not.

Every service of the host fails now and then, one after another (a crash or a failing
healthcheck every 2-4 s): within the storm window each of them has been "seen unhealthy",
which once kept the repair-storm brake on and trickled repairs at one per interval. These
failures are explicit (a check exits non-zero at once), so the brake, which engages only on
evidence of overload, stays off: no failure may be missed, and all end healthy.
"""

from __future__ import annotations

import random
import subprocess
import time

from tests.support import (
    ComposeFactory,
    EventRecorder,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory

SERVICES = [f"s{i}" for i in range(6)]
FAILURES = 16  # one every 2-4 s: about a minute
SEED = 21


def test_independent_failures_over_time_are_all_repaired_and_end_healthy(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(
        compose_yaml(*(healthy_service_yaml(test_image, s) for s in SERVICES)), wait=True
    )
    rec = docker_events(project.name)
    # Default settings but for host pressure: the machine that runs this suite is shared, and
    # its CPU pressure is another test's, not these explicit failures' (the storm test covers
    # the brake under pressure).
    stack = healer_stack(
        project.name,
        HEALER_STORM_CPU_PRESSURE="100",
        HEALER_STORM_IO_PRESSURE="100",
    )
    stack.worker()
    stack.events()
    stack.beat()
    rng = random.Random(SEED)
    faults: list[tuple[str, float]] = []
    for _ in range(FAILURES):
        # A service not failing right now: one failure at a time per service.
        busy = {s for s, at in faults if not _started_after(rec, s, at)}
        name = rng.choice([s for s in SERVICES if s not in busy] or SERVICES)
        cid = project.container(name).id
        at = time.time()
        if rng.random() < 0.5:
            subprocess.run(["docker", "kill", cid], check=False, capture_output=True)
        else:
            subprocess.run(["docker", "exec", cid, "rm", "/tmp/healthy"], check=False)
        faults.append((name, at))
        time.sleep(rng.uniform(2, 4))
    for name, at in faults:

        def started(n: str = name, t: float = at) -> bool:
            return bool(_started_after(rec, n, t))

        wait_until(
            started,
            timeout=30,
            message=f"{name} failed at {at:.1f} and was never started again:\n{stack.tail()}",
        )

    def all_healthy() -> bool:
        return all(
            (project.container(s).attrs["State"].get("Health") or {}).get("Status") == "healthy"
            for s in SERVICES
        )

    wait_until(all_healthy, timeout=20, message="every service healthy at the end")


def _started_after(rec: EventRecorder, service: str, at: float) -> bool:
    return any(e["time_ns"] / 1e9 > at for e in rec.events("start", service))
