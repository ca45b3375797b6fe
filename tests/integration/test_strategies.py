"""Repair strategies against the real engine: recreate, escalation by label, plugins from
entry points (tests/plugins/example_strategy, installed by scripts/provision.sh), signals and
the post-repair webhook. Assertions are on Docker's own events and state."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.integration.test_healing import _WebhookSink
from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory, HealerStack

AUTH = {"Authorization": "Bearer test-token-0123456789"}  # as tests/conftest.py sets it
ALERTS = {"Authorization": "Bearer alerts-token-0123456789"}


def _history(stack: HealerStack, service: str) -> list[dict[str, Any]]:
    return stack.history(service)


def _outcomes(stack: HealerStack, service: str, outcome: str) -> list[dict[str, Any]]:
    return [e for e in _history(stack, service) if e["outcome"] == outcome]


# --- recreate --------------------------------------------------------------------------------


def test_recreate_is_compose_force_recreate_and_reattaches_namespace_sharers(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    yaml = compose_yaml(
        healthy_service_yaml(test_image, "db", "volumes:\n  - data:/data"),
        healthy_service_yaml(test_image, "side", network_mode="service:db"),
        top_level="volumes:\n  data: {}",
    )
    project = compose_project(yaml, wait=True)
    old_db, old_side = project.container("db"), project.container("side")
    old_db.exec_run(["sh", "-c", "echo kept > /data/proof"], user="root")
    rec = docker_events(project.name)
    stack = healer_stack(project.name)
    stack.worker()
    out = stack.cli("repair", "db", "--action", "recreate", "--wait")
    assert out.stdout.startswith("queued recreate of") and "acted" in out.stdout, out.stdout

    new_db = project.container("db")
    assert new_db.id != old_db.id and new_db.status == "running"
    assert new_db.name == old_db.name
    assert new_db.exec_run(["cat", "/data/proof"]).output.decode().strip() == "kept"
    old_labels = {k: v for k, v in old_db.labels.items() if k != "com.docker.compose.replace"}
    assert {k: v for k, v in new_db.labels.items() if k in old_labels} == old_labels
    assert new_db.attrs["Config"]["Healthcheck"] == old_db.attrs["Config"]["Healthcheck"]
    # compose itself lists the new container as the service's
    ps = [json.loads(line) for line in project.run("ps", "--format", "json").stdout.splitlines()]
    listed = {p["Service"]: p["ID"] for p in ps}
    assert new_db.id.startswith(listed["db"])
    # Docker saw compose's sequence: the old one destroyed, the new one created and started.
    destroyed = rec.wait_for("destroy", "db")[0]
    created = rec.wait_for("create", "db")[0]
    started = next(e for e in rec.wait_for("start", "db") if e["container_id"] == new_db.id)
    assert destroyed["container_id"] == old_db.id and created["container_id"] == new_db.id
    assert created["time_ns"] < destroyed["time_ns"] < started["time_ns"]
    # the dependent in db's network namespace was re-attached to the new one and runs
    new_side = wait_until(
        lambda: [c for c in project.containers("side") if c.status == "running"],
        timeout=20,
        message="side is not running again",
    )[0]
    assert new_side.id != old_side.id
    assert new_side.attrs["HostConfig"]["NetworkMode"] == f"container:{new_db.id}"
    acted = _outcomes(stack, "db", "acted")
    assert acted[0]["action"] == "recreate" and "side-1 re-attached" in acted[0]["detail"]


# --- escalation ------------------------------------------------------------------------------


def test_escalation_restarts_then_recreates_then_quarantines(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    labels = {
        "healer.unhealthy.actions": "restart,recreate",
        "healer.unhealthy.max_attempts": "2",
        "healer.unhealthy.cooldown": "1",
    }
    # Never healthy: the health file is never created, in any container of the service.
    yaml = compose_yaml(
        healthy_service_yaml(
            test_image, "web", command="exec sleep 2147483647", labels=labels, retries=2
        )
    )
    project = compose_project(yaml, up=False)
    rec = docker_events(project.name)
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="2")
    stack.worker()
    stack.events()
    stack.beat()
    project.up()
    first = project.container("web")
    wait_until(
        lambda: _outcomes(stack, "web", "quarantined"),
        timeout=60,
        message="no quarantine:\n" + stack.decision_log(),
    )
    restarts = rec.events("restart", "web")
    destroys = rec.events("destroy", "web")
    assert len(restarts) == 1 and restarts[0]["container_id"] == first.id
    assert len(destroys) == 1 and destroys[0]["container_id"] == first.id
    second = project.container("web")
    created = [e for e in rec.events("create", "web") if e["container_id"] == second.id]
    started = [e for e in rec.events("start", "web") if e["container_id"] == second.id]
    assert restarts[0]["time_ns"] < created[0]["time_ns"] < destroys[0]["time_ns"]
    assert destroys[0]["time_ns"] < started[0]["time_ns"]
    acted = sorted(_outcomes(stack, "web", "acted"), key=lambda e: e["attempt"])
    assert [(e["attempt"], e["action"]) for e in acted] == [(1, "restart"), (2, "recreate")]
    status = stack.status()["services"]
    assert status[f"{project.name}/web"]["status"] == "quarantined"
    assert second.status == "running", "a quarantined container is left for inspection"


# --- plugins ---------------------------------------------------------------------------------


def _broken_plugin(root: Path) -> Path:
    """A distribution whose strategy cannot be imported, on a path only this test uses (an
    installed one would fail every other test's `healer check`)."""
    info = root / "broken_strategy-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-strategy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[compose_healer.strategies]\nexample-broken = broken_strategy_mod:run\n"
    )
    (root / "broken_strategy_mod.py").write_text(
        "raise ImportError('broken_strategy needs libfoo, which is not installed')\n"
    )
    return root


def _alert(service: str, action: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "ExampleStrategy",
            "auto_repair": "true",
            "service": service,
            "action": action,
        },
        "annotations": {"summary": f"run {action}"},
        "startsAt": "2024-05-01T10:00:00Z",
    }


def _plugin_children(log_dir: Path) -> list[int]:
    """Live plugin runner processes of this test's healer (found by its own log dir)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if b"healer.adapters.plugins.runner" in cmd and str(log_dir).encode() in env:
            found.append(int(pid))
    return found


def test_plugin_strategies_from_entry_points(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
    tmp_path: Path,
) -> None:
    # Each service lets alerts run its plugin (healer.alerts.actions): by default they may not.
    plugins = {"fixme": "exec", "failing": "fail", "hanging": "hang", "broken": "broken"}
    services = (
        healthy_service_yaml(test_image, n, labels={"healer.alerts.actions": f"example-{p}"})
        for n, p in plugins.items()
    )
    project = compose_project(compose_yaml(*services), wait=True)
    rec = docker_events(project.name, include_exec=True)
    extra_path = _broken_plugin(tmp_path / "plugins")
    stack = healer_stack(
        project.name,
        # Room for the exec strategy's child (a Python start and a `docker exec`) on a host
        # the whole suite loads: it took over 3 s once. The hanging one is killed at 8 s.
        HEALER_PLUGIN_TIMEOUT="8",
        PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(extra_path)) if p),
    )
    listing = stack.cli("strategies").stdout
    for line in ("example-exec", "plugin compose-healer-example-strategy 0.1.0"):
        assert line in listing, listing
    assert "recreate" in listing and "signal:<NAME>" in listing and "built-in" in listing
    assert "example-broken" in listing and "BROKEN" in listing and "libfoo" in listing
    check = stack.cli("check", check=False)
    assert check.returncode == 1 and "example-broken" in check.stderr and "libfoo" in check.stderr

    worker = stack.worker()
    url = stack.api()
    subprocess.run(["docker", "exec", project.container("fixme").id, "rm", "/tmp/healthy"])
    rec.wait_for("health_status: unhealthy", "fixme", timeout=15)
    batch = {
        "version": "4",
        "status": "firing",
        "alerts": [
            _alert("fixme", "example-exec"),
            _alert("failing", "example-fail"),
            _alert("hanging", "example-hang"),
            _alert("broken", "example-broken"),
        ],
    }
    resp = httpx.post(f"{url}/alerts", headers=ALERTS, json=batch, timeout=30)
    assert resp.status_code == 202, resp.text
    assert [r["decision"] for r in resp.json()["results"]] == ["queued"] * 4

    # The example strategy ran inside the container and the service healed without a restart.
    rec.wait_for("exec_start: sh -c touch /tmp/healthy", "fixme", timeout=30)
    rec.wait_for("health_status: healthy", "fixme", timeout=15)
    assert not rec.events("restart", "fixme") and not rec.events("destroy", "fixme")
    ok = wait_until(lambda: _outcomes(stack, "fixme", "acted"), timeout=30, message=stack.tail())
    assert ok[0]["action"] == "example-exec" and ok[0]["source"] == "alert"

    def failed(service: str) -> dict[str, Any]:
        return wait_until(
            lambda: _outcomes(stack, service, "failed"), timeout=40, message=stack.tail()
        )[0]

    assert "example failure for" in failed("failing")["detail"]
    hung = failed("hanging")
    assert "did not finish within 8s; killed" in hung["detail"]
    assert "libfoo" in failed("broken")["detail"]
    assert not _plugin_children(stack.log_dir), "a killed strategy left a process behind"
    metrics = httpx.get(f"{url}/metrics", headers=AUTH).text
    assert 'action="example-exec"' in metrics and 'action="example-hang"' in metrics

    # The worker survived all of it and keeps serving repairs.
    assert worker.poll() is None
    after = stack.cli("repair", "hanging", "--action", "restart", "--wait")
    assert "acted" in after.stdout
    rec.wait_for("restart", "hanging", timeout=15)


# --- signals, unknown actions, the post-repair hook -----------------------------------------


def _trap_service(image: str) -> str:
    # No init: sh is the container's main process (PID 1) and traps HUP itself.
    script = "trap 'echo got-HUP' HUP; touch /tmp/healthy; while true; do sleep 1 & wait $!; done"
    return (
        "  reloader:\n"
        f"    image: {json.dumps(image)}\n"
        "    network_mode: none\n"
        "    tmpfs: [/tmp]\n"
        f"    command: {json.dumps(['sh', '-c', script])}\n"
    )


def test_signal_hup_reaches_the_main_process_and_the_hook_gets_the_outcome(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(_trap_service(test_image)), wait=True)
    rec = docker_events(project.name)
    hook = _WebhookSink()
    stack = healer_stack(project.name, HEALER_POST_REPAIR_WEBHOOK=hook.url)
    stack.worker()
    url = stack.api()
    before = project.container("reloader")

    # Unknown actions: a clear 4xx / CLI error naming the known ones, nothing enqueued.
    bad = httpx.post(f"{url}/repair/reloader", headers=AUTH, json={"action": "reboot"})
    assert bad.status_code == 422
    for known in ("restart", "recreate", "signal:<NAME>", "example-exec"):
        assert known in bad.json()["detail"]
    cli = stack.cli("repair", "reloader", "--action", "signal:NOPE", check=False)
    assert cli.returncode == 2 and "signal:<NAME>" in cli.stderr and "known:" in cli.stderr
    assert _history(stack, "reloader") == []

    resp = httpx.post(f"{url}/repair/reloader", headers=AUTH, json={"action": "signal:hup"})
    assert resp.status_code == 202 and resp.json()["action"] == "signal:HUP"
    wait_until(lambda: "got-HUP" in before.logs().decode(), timeout=20, message=stack.tail())
    kill = rec.wait_for("kill", "reloader")[0]
    assert kill["container_id"] == before.id
    payload = wait_until(lambda: hook.received, timeout=20, message="no post-repair hook")[0]
    hook.close()
    assert payload["service"] == f"{project.name}/reloader"
    assert payload["action"] == "signal:HUP" and payload["outcome"] == "acted"
    assert payload["success"] is True and payload["request_id"] == resp.json()["task_id"]
    after = project.container("reloader")
    assert after.id == before.id and after.status == "running"
