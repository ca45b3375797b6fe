"""The self-healing core against a real compose project: asserted on Docker's own events."""

from __future__ import annotations

import http.server
import itertools
import json
import subprocess
import threading
from typing import Any

import pytest
import redis

from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory, HealerStack

AUTH = {"Authorization": "Bearer test-token-0123456789"}  # as tests/conftest.py sets it


def _history(stack: HealerStack, service: str) -> list[dict[str, object]]:
    return stack.history(service)


@pytest.mark.serial  # alone: it asserts a latency under 5 s
def test_unhealthy_container_is_restarted_via_the_event_path(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    # Reconcile every 60 s: only the event path can make this repair happen in time.
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="60")
    stack.worker()
    stack.events()
    web = project.container("web")
    subprocess.run(["docker", "exec", web.id, "rm", "/tmp/healthy"], check=True)
    unhealthy = rec.wait_for("health_status: unhealthy", "web", timeout=15)[0]
    start = rec.wait_for("start", "web", timeout=15)[0]
    # a restart in place (not a recreate): Docker reports `restart` for the same container
    restart = rec.wait_for("restart", "web", timeout=5)[0]
    assert restart["container_id"] == web.id
    assert start["time_ns"] > unhealthy["time_ns"]
    assert (start["time_ns"] - unhealthy["time_ns"]) / 1e9 < 5
    rec.wait_for("health_status: healthy", "web", timeout=15)
    entries = _history(stack, "web")
    acted = [e for e in entries if e["outcome"] == "acted"]
    assert len(acted) == 1 and acted[0]["condition"] == "unhealthy"
    assert acted[0]["action"] == "restart"
    assert "ACTED" in stack.decision_log()


def test_crashed_and_hand_stopped_services_are_started_opted_out_is_not(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    yaml = compose_yaml(
        healthy_service_yaml(test_image, "api"),
        healthy_service_yaml(test_image, "db"),
        healthy_service_yaml(test_image, "legacy", labels={"auto_repair": "false"}),
    )
    project = compose_project(yaml, wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name)
    stack.worker()
    stack.events()
    project.container("api").kill()  # a crash: SIGKILL, no `stop` event
    project.run("stop", "db")  # the seed's case: a service stopped by hand comes back
    project.container("legacy").kill()
    rec.wait_for("start", "api", timeout=15)
    rec.wait_for("start", "db", timeout=15)
    wait_until(lambda: "opted_out" in json.dumps(_history(stack, "legacy")), timeout=10)
    assert not rec.events("start", "legacy"), "auto_repair=false must never be touched"
    legacy = project.container("legacy")
    assert legacy.status == "exited"
    status = stack.status()["services"]
    assert status[f"{project.name}/legacy"]["status"] == "opted_out"


def test_respect_manual_stop_and_pause_keep_services_down(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    yaml = compose_yaml(
        healthy_service_yaml(test_image, "kept"),
        healthy_service_yaml(test_image, "crashy"),
        healthy_service_yaml(test_image, "paused"),
    )
    project = compose_project(yaml, wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, HEALER_RESPECT_MANUAL_STOP="true")
    stack.worker()
    stack.events()
    stack.cli("pause", "paused")
    project.run("stop", "kept")
    project.container("crashy").kill()
    project.container("paused").kill()
    rec.wait_for("start", "crashy", timeout=15)  # a crash is still repaired
    wait_until(lambda: "manual_stop" in json.dumps(_history(stack, "kept")), timeout=10)
    wait_until(lambda: "paused" in json.dumps(_history(stack, "paused")), timeout=10)
    assert not rec.events("start", "kept")
    assert not rec.events("start", "paused")
    stack.cli("resume", "paused")
    rec.wait_for("start", "paused", timeout=15)


def test_crash_loop_backs_off_then_quarantines_and_reset_lifts_it(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
    redis_client: redis.Redis,
) -> None:
    yaml = compose_yaml(
        healthy_service_yaml(test_image, "loop", command="sleep 0.3; exit 3").replace(
            "    healthcheck:\n", "    healthcheck:\n      disable: true\n", 1
        )
    )
    # Health check disabled: the service only ever exits.
    project = compose_project(yaml.split("      test:")[0].rstrip() + "\n")
    rec = docker_events(project.name)
    webhook = _WebhookSink()
    stack = healer_stack(
        project.name,
        RESTART_COOLDOWN="2",
        MAX_RESTART_ATTEMPTS="3",
        WATCHDOG_INTERVAL="1",
        HEALER_NOTIFY_WEBHOOK=webhook.url,
    )
    stack.worker()
    stack.events()
    stack.beat()  # it crashed before the watcher subscribed: reconcile finds it
    wait_until(
        lambda: "QUARANTINED" in stack.decision_log(),
        timeout=40,
        message="no quarantine:\n" + stack.decision_log(),
    )
    starts = rec.events("start", "loop")
    # exactly max_attempts repairs (compose's own start came before the recorder)
    assert len(starts) == 3, [e["action"] for e in rec.events()]
    gaps = [(b["time_ns"] - a["time_ns"]) / 1e9 for a, b in itertools.pairwise(starts)]
    # Waits of 2 s then 4 s between claims; a start event lags its claim by the engine's
    # start time (up to ~1 s here), hence the margin.
    assert gaps[0] >= 1.2 and gaps[1] >= 3.2, f"backoff doubling not respected: {gaps}"
    status = stack.status()["services"]
    assert status[f"{project.name}/loop"]["status"] == "quarantined"
    assert project.container("loop").status == "exited", "kept for inspection"
    # the critical notification reached the (Slack-compatible) webhook
    payload = wait_until(lambda: webhook.received, timeout=10, message="no notification")[0]
    assert "[CRITICAL]" in payload["text"] and f"{project.name}/loop quarantined" in payload["text"]
    assert payload["attachments"][0]["color"] == "danger"
    webhook.close()
    n = len(rec.events("start", "loop"))
    stack.cli("reset", "loop")
    rec.wait_for("start", "loop", count=n + 1, timeout=15)


class _WebhookSink:
    """A local HTTP endpoint standing in for Slack: records every JSON body posted to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_concurrent_adhoc_repairs_restart_exactly_once(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, RESTART_COOLDOWN="300")
    stack.worker("a", concurrency=4)
    stack.worker("b", concurrency=4)
    url = stack.api()
    import concurrent.futures

    import httpx

    def post(_: int) -> httpx.Response:
        return httpx.post(
            f"{url}/repair/web",
            headers=AUTH,
            timeout=10,
        )

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(post, range(24)))
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    ids = {r.json()["task_id"] for r in responses}
    assert len(ids) == 24

    def all_done() -> bool:
        return all(
            httpx.get(f"{url}/requests/{i}", headers=AUTH).json().get("status") == "done"
            for i in ids
        )

    wait_until(all_done, timeout=60, message=stack.tail())
    outcomes = [httpx.get(f"{url}/requests/{i}", headers=AUTH).json()["outcome"] for i in ids]
    assert outcomes.count("acted") == 1, outcomes
    assert set(outcomes) == {"acted", "skipped"}
    assert len(rec.events("restart", "web")) == 1


def test_api_contract(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    import httpx

    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    stack = healer_stack(project.name)
    url = stack.api()
    auth = {"Authorization": "Bearer test-token-0123456789"}
    assert httpx.post(f"{url}/repair/web").status_code == 401
    assert (
        httpx.post(f"{url}/repair/web", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    assert httpx.post(f"{url}/repair/nosuch", headers=auth).status_code == 404
    bad = httpx.post(f"{url}/repair/web", headers=auth, json={"action": "explode"})
    assert bad.status_code == 422
    ok = httpx.post(f"{url}/repair/{project.name}/web", headers=auth, json={"action": "restart"})
    assert ok.status_code == 202 and ok.json()["task_id"]
    health = httpx.get(f"{url}/healthz").json()
    assert health.pop("redis_master") == stack.env["REDIS_URL"].split("/")[2]  # host:port
    assert health == {"ok": True, "redis": "ok", "docker": "ok"}
    assert httpx.get(f"{url}/status").status_code == 401  # reads need the token too
    services = httpx.get(f"{url}/status", headers=auth).json()["services"]
    assert services[f"{project.name}/web"]["status"] == "healthy"
    hist = httpx.get(f"{url}/history", params={"service": "web"}, headers=auth).json()["entries"]
    assert hist and hist[0]["outcome"] == "requested"
    since = {"since": "yesterday"}
    assert httpx.get(f"{url}/history", params=since, headers=auth).status_code == 422


def test_reconcile_path_repairs_without_the_events_watcher(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="1")
    stack.worker()
    stack.beat()
    project.container("web").kill()
    rec.wait_for("start", "web", timeout=20)

    def acted_by_probe() -> bool:
        entries = _history(stack, "web")
        return any(e["outcome"] == "acted" and e["source"] == "probe" for e in entries)

    # The outcome is recorded once the start returns: the engine's event may come first.
    wait_until(acted_by_probe, timeout=10, interval=0.5, message="web's repair by the probe")


def test_check_reports_what_is_wrong(healer_stack: HealerFactory) -> None:
    stack = healer_stack("none")
    assert "redis: ok" in stack.cli("check").stdout
    stack.env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    bad = stack.cli("check", check=False)
    # Exit 3: Redis (or Docker) unavailable, as the CLI reference says.
    assert bad.returncode == 3 and "redis at redis://127.0.0.1:1/0" in bad.stderr
    stack.env["WATCHDOG_INTERVAL"] = "soon"
    worse = stack.cli("check", check=False)
    assert worse.returncode == 2 and "WATCHDOG_INTERVAL" in worse.stderr
