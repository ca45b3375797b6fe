"""The events stream the watcher follows (DockerEngine.events), against a real engine: the
engine filters it to the actions the healer reads, so a healthcheck's exec_* events never
reach the watcher, while every action it does read still does."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

from healer.adapters.docker.engine import DockerEngine
from healer.core.events import parse_event
from tests.support import ComposeFactory, EventsFactory, compose_yaml, healthy_service_yaml


def test_the_watcher_stream_carries_health_and_lifecycle_events_but_no_exec_events(
    compose_project: ComposeFactory, docker_events: EventsFactory, test_image: str
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    # The unfiltered stream of the same window: the healthcheck's exec_* events are there.
    everything = docker_events(project.name, include_exec=True)
    engine = DockerEngine.connect(None, (project.name,))
    stream = engine.events(time.time())
    seen: list[dict[str, Any]] = []

    def read() -> None:
        for raw in stream:
            seen.append(raw)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        web = project.container("web")
        subprocess.run(["docker", "exec", web.id, "rm", "/tmp/healthy"], check=True)
        everything.wait_for("health_status: unhealthy", "web", timeout=15)
        web.restart(timeout=5)
        everything.wait_for("start", "web", timeout=15)
        time.sleep(0.5)  # the filtered stream's last events
    finally:
        stream.close()
        engine.close()
        reader.join(timeout=5)
    actions = [str(raw.get("Action") or raw.get("status")) for raw in seen]
    assert [e for e in everything.events() if e["action"].startswith("exec_")], (
        "the healthcheck ran no exec during the test: nothing was filtered"
    )
    assert not [a for a in actions if a.startswith("exec_")], actions
    for wanted in ("health_status: unhealthy", "kill", "die", "stop", "start", "restart"):
        assert wanted in actions, f"{wanted!r} missing from the watcher's stream: {actions}"
    # Every event delivered is one the watcher acts on.
    assert all(parse_event(raw) is not None for raw in seen), actions
