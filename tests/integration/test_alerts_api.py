"""POST /alerts (Alertmanager webhook v4) against the real Redis, Docker and a real worker.

The API runs in this process (uvicorn in a thread, so the size-limit tests speak raw HTTP
to a real server); the repair task still crosses the real broker to a real Celery worker
started by `healer_stack`, and the assertions are on Docker's own events.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import redis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from healer.api.alerts import MAX_ALERTS_PER_BATCH, MAX_BODY_BYTES
from healer.api.app import create_app
from healer.settings import Settings
from tests.support import (
    ComposeFactory,
    EventsFactory,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory, HealerStack

AUTH = {"Authorization": "Bearer alerts-token-0123456789"}  # only the alerts token reaches /alerts
OPERATOR = {"Authorization": "Bearer test-token-0123456789"}
T1 = "2024-05-01T10:00:00.000000001Z"
T2 = "2024-05-01T10:20:00Z"


# --- an API with the alerts router, served for real --------------------------------------


def alerts_app(stack: HealerStack | None = None, **settings: Any) -> FastAPI:
    """The real app from create_app(): it wires POST /alerts itself."""
    env = stack.env if stack else {}
    app = create_app(
        Settings(
            redis_url=env.get("REDIS_URL", settings.pop("redis_url", "")),
            projects=env.get("HEALER_PROJECTS", "none"),
            api_token="test-token-0123456789",
            alerts_token="alerts-token-0123456789",
            api_allowed_hosts="127.0.0.1,testserver",
            log_dir=stack.log_dir if stack else settings.pop("log_dir"),
            **settings,
        )
    )
    return app


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="alerts-api", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=15, message="in-process API did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# --- webhook bodies ------------------------------------------------------------------------


def alert(
    service: str,
    *,
    status: str = "firing",
    starts: str = T1,
    fingerprint: str = "",
    **labels: str,
) -> dict[str, Any]:
    all_labels = {
        "alertname": "HighErrorRate",
        "auto_repair": "true",
        "action": "restart",
        "service": service,
        "severity": "critical",
        **labels,
    }
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{service} answers 9% of requests with 5xx"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint or uuid.uuid4().hex[:16],
    }


def webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "healer",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def post(url: str, *alerts: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/alerts", headers=AUTH, json=webhook(*alerts), timeout=30)


def only(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 202, resp.text
    results: list[dict[str, Any]] = resp.json()["results"]
    assert len(results) == 1, results
    return results[0]


def wait_done(url: str, task_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{url}/requests/{task_id}", headers=OPERATOR).json()
        return data if data.get("status") == "done" else {}

    return wait_until(done, timeout=60, message=f"request {task_id} to finish")


def alert_history(url: str, service: str) -> list[dict[str, Any]]:
    params = {"service": service}
    entries = httpx.get(f"{url}/history", params=params, headers=OPERATOR).json()["entries"]
    return [e for e in entries if e["source"] == "alert"]


# --- tests -----------------------------------------------------------------------------------


def test_alert_repairs_a_healthy_service_once_per_firing(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    rec = docker_events(project.name)
    # Cooldown 0: the guard would allow every repair, so only the alert intake's dedupe
    # and suppression can be what keeps repeated alerts from restarting again.
    stack = healer_stack(project.name, RESTART_COOLDOWN="0")
    stack.worker()
    with serve(alerts_app(stack)) as url:
        first = alert("web", fingerprint="f1")
        queued = only(post(url, first))
        assert queued["decision"] == "queued" and queued["task_id"], queued
        assert queued["service"] == f"{project.name}/web"
        rec.wait_for("restart", "web", timeout=30)
        outcome = wait_done(url, queued["task_id"])
        assert outcome["outcome"] == "acted", outcome  # Docker said healthy; the alert knew

        # Alertmanager re-sends the same firing alert: collapsed, not recorded again.
        dup = only(post(url, first))
        assert (dup["decision"], dup["duplicate_of"], dup["task_id"]) == ("duplicate", "queued", "")
        # The same alert fires again (new startsAt) inside the suppression window.
        again = only(post(url, alert("web", fingerprint="f1", starts=T2)))
        assert (again["decision"], again["reason"]) == ("skipped", "suppressed")
        resolved = only(post(url, alert("web", fingerprint="f1", status="resolved")))
        assert (resolved["decision"], resolved["reason"]) == ("ignored", "resolved")
        human = only(post(url, alert("web", auto_repair="false")))
        assert (human["decision"], human["reason"]) == ("ignored", "not_auto_repair")

        # Suppression is per (service, action): a renamed rule asking the same is suppressed,
        # another action on the same service is not.
        renamed = only(post(url, alert("web", alertname="ContainerUnhealthy")))
        assert (renamed["decision"], renamed["reason"]) == ("skipped", "suppressed")
        other = only(post(url, alert("web", alertname="ContainerRestarting", action="stop_start")))
        assert other["decision"] == "queued"
        assert wait_done(url, other["task_id"])["outcome"] == "acted"
        # Positive signal: the repair queue drained and no task is in flight (acks are late,
        # so a running task stays in kombu's `unacked` hash): anything wrongly enqueued ran.
        broker = redis.Redis.from_url(stack.env["REDIS_URL"])
        wait_until(
            lambda: broker.llen("healer.repair") == 0 and broker.hlen("unacked") == 0,
            timeout=30,
            message="the repair queue to drain",
        )
        broker.close()
        # One restart (its own start event) and one stop_start (a stop, then a start).
        assert len(rec.events("restart", "web")) == 1, rec.describe()
        assert len(rec.events("start", "web")) == 2, rec.describe()

        history = alert_history(url, "web")
    by_outcome: dict[str, int] = {}
    for e in history:
        by_outcome[e["outcome"]] = by_outcome.get(e["outcome"], 0) + 1
    assert by_outcome == {"requested": 2, "acted": 2, "skipped": 2, "ignored": 2}, history
    assert {e["reason"] for e in history if e["outcome"] in ("skipped", "ignored")} == {
        "suppressed",
        "resolved",
        "not_auto_repair",
    }
    assert all(e["condition"] == "alert" for e in history)


def test_auth_bad_bodies_unknown_and_paused_services(
    compose_project: ComposeFactory,
    docker_events: EventsFactory,
    healer_stack: HealerFactory,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    rec = docker_events(project.name)
    stack = healer_stack(project.name)
    stack.worker()
    with serve(alerts_app(stack)) as url:
        body = webhook(alert("web"))
        assert httpx.post(f"{url}/alerts", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.post(f"{url}/alerts", json=body, headers=wrong).status_code == 401
        # The operator's token is not an alert sender's, nor the other way round.
        assert httpx.post(f"{url}/alerts", json=body, headers=OPERATOR).status_code == 403
        assert httpx.get(f"{url}/status", headers=AUTH).status_code == 403
        for path in ("/status", "/history", "/metrics", "/requests/x"):
            assert httpx.get(f"{url}{path}").status_code == 401, path
        assert httpx.get(f"{url}/healthz").status_code == 200
        evil = httpx.get(f"{url}/status", headers={**OPERATOR, "Host": "evil.example"})
        assert evil.status_code == 400

        garbage = httpx.post(f"{url}/alerts", content=b"{not json", headers=AUTH)
        assert garbage.status_code == 422 and "not JSON" in garbage.text
        v3 = {**body, "version": "3"}
        schema = httpx.post(f"{url}/alerts", json=v3, headers=AUTH)
        assert schema.status_code == 422, schema.text
        assert any(p.startswith("version:") for p in schema.json()["problems"])

        # Unknown service alone (with a resolved alert beside it): 404, recorded as skipped.
        lost = alert("nosuch", fingerprint="lost")
        missing = post(url, lost, alert("web", status="resolved"))
        assert missing.status_code == 404, missing.text
        assert [r["reason"] for r in missing.json()["results"]] == ["not_found", "resolved"]
        again = post(url, lost)  # a re-delivery answers the same, and is not re-recorded
        assert again.status_code == 404, again.text
        assert again.json()["results"][0]["duplicate_of"] == "skipped"
        skipped = alert_history(url, "nosuch")
        assert [(e["outcome"], e["reason"]) for e in skipped] == [("skipped", "not_found")]

        # A service an operator paused is left alone by alerts too.
        stack.cli("pause", "web")
        paused = only(post(url, alert("web")))
        assert (paused["decision"], paused["reason"]) == ("skipped", "paused")
        stack.cli("resume", "web")

        # An unknown service next to an actionable alert: the batch is accepted.
        mixed = post(url, alert("ghost"), alert(f"{project.name}/web"))
        assert mixed.status_code == 202, mixed.text
        decisions = [(r["decision"], r["reason"]) for r in mixed.json()["results"]]
        assert decisions == [("skipped", "not_found"), ("queued", "")]
        queued = mixed.json()["results"][1]["task_id"]
        assert wait_done(url, queued)["outcome"] == "acted"
        assert len(rec.events("restart", "web")) == 1, rec.describe()


def _raw_post(port: int, head: list[str], chunks: list[bytes]) -> int:
    """Status code of a POST /alerts written by hand: exact control of framing."""
    request = ["POST /alerts HTTP/1.1", "Host: 127.0.0.1", *head, "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall("\r\n".join(request).encode())
        for chunk in chunks:
            sock.sendall(chunk)
        data = b""
        while b"\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                break
            data += more
    return int(data.split(b" ", 2)[1])


def _chunked(payload: bytes, size: int = 65536) -> list[bytes]:
    return [
        f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for part in (payload[i : i + size] for i in range(0, len(payload), size))
    ]


def test_bodies_over_one_mib_are_refused_before_they_are_read(
    healer_stack: HealerFactory,
) -> None:
    stack = healer_stack("none")
    with serve(alerts_app(stack)) as url:
        port = int(url.rsplit(":", 1)[1])
        auth = f"Authorization: {AUTH['Authorization']}"
        json_type = "Content-Type: application/json"
        huge = f"Content-Length: {MAX_BODY_BYTES + 1}"
        # Declared too big: answered from the headers alone, no body byte is ever sent.
        assert _raw_post(port, [auth, json_type, huge], []) == 413
        # Authentication comes first: a stranger cannot make the API read anything.
        assert _raw_post(port, [json_type, huge], []) == 401
        # Chunked, no length: refused once the cap is crossed, without waiting for the end
        # (the terminating chunk is never sent, so a buffering server would hang here).
        chunks = _chunked(b" " * (MAX_BODY_BYTES + 1))
        assert _raw_post(port, [auth, json_type, "Transfer-Encoding: chunked"], chunks) == 413

        # Exactly at the limit is fine: a padded but valid body (a resolved alert: no action).
        body = webhook(alert("web", status="resolved"))
        text = json.dumps(body)
        body["alerts"][0]["annotations"]["padding"] = "x" * (MAX_BODY_BYTES - len(text) - 15)
        raw = json.dumps(body).encode()
        raw += b" " * (MAX_BODY_BYTES - len(raw))
        assert len(raw) == MAX_BODY_BYTES
        ok = httpx.post(f"{url}/alerts", content=raw, headers=AUTH)
        assert ok.status_code == 202, ok.text[:500]
        streamed = httpx.post(
            f"{url}/alerts", content=iter([raw[:1000], raw[1000:]]), headers=AUTH, timeout=30
        )
        assert streamed.status_code == 202, streamed.text[:500]
        # (the second one is a duplicate delivery of the first)
        assert streamed.json()["results"][0]["decision"] == "duplicate"


def test_redis_down_is_a_503_so_alertmanager_retries(tmp_path: Any) -> None:
    app = alerts_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", log_dir=tmp_path)
    with TestClient(app) as client:
        resp = client.post("/alerts", headers=AUTH, json=webhook(alert("web")))
    assert resp.status_code == 503 and "Redis" in resp.text
    assert int(resp.headers["retry-after"]) >= 1, "a 503 says when to come back"


def _queued(broker: redis.Redis, queue: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(task name, task id, kwargs) of each Celery message waiting in `queue`."""
    out = []
    for raw in broker.lrange(queue, 0, -1):
        msg = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(msg["body"]))
        out.append((msg["headers"]["task"], msg["headers"]["id"], kwargs))
    return out


def test_host_cleanup_and_scale_up_alerts_become_their_tasks(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    redis_client: redis.Redis,
    test_image: str,
) -> None:
    # No worker: the messages stay on the broker to be read back.
    # scale_up from an alert: the service autoscales (healer.scale.max), so it opted in.
    web = healthy_service_yaml(test_image, "web", labels={"healer.scale.max": "3"})
    project = compose_project(compose_yaml(web))
    stack = healer_stack(project.name)
    with TestClient(alerts_app(stack)) as client:
        disk = alert("host", alertname="DiskSpaceLow", action="cleanup")
        backlog = alert("web", alertname="CeleryQueueBacklog")
        del backlog["labels"]["action"]  # the alertname's default: scale_up
        resp = client.post("/alerts", headers=AUTH, json=webhook(disk, backlog))
    assert resp.status_code == 202, resp.text
    cleanup, scale = resp.json()["results"]
    assert (cleanup["decision"], scale["decision"]) == ("queued", "queued")
    # Work for a host goes to that host's own queues (the stack's host: this machine's name).
    host = socket.gethostname()
    assert _queued(redis_client, f"healer.repair@{host}") == [
        (
            "healer.repair.cleanup",
            cleanup["task_id"],
            {"source": "alert", "request_id": cleanup["task_id"], "host": host},
        )
    ]
    sid = f"{project.name}/web"
    assert _queued(redis_client, f"healer.scale@{host}") == [
        (
            "healer.scale.service",
            scale["task_id"],
            # request_id: the scale task closes the request record with its outcome.
            {
                "sid": sid,
                "replicas": -1,
                "force": False,
                "source": "alert",
                "host": host,
                "request_id": scale["task_id"],
            },
        )
    ]
    requests = [redis_client.hgetall(f"healer:request:{r['task_id']}") for r in (cleanup, scale)]
    assert [(r["status"], r["action"]) for r in requests] == [
        ("queued", "cleanup"),
        ("queued", "scale_up"),
    ]


def test_alerts_may_only_do_what_the_service_allows(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    redis_client: redis.Redis,
    test_image: str,
) -> None:
    # No worker: what is allowed stays queued on the broker, what is not is never queued.
    opted = {"healer.alerts.actions": "signal:KILL, recreate"}
    project = compose_project(
        compose_yaml(
            healthy_service_yaml(test_image, "web"),
            healthy_service_yaml(test_image, "opted", labels=opted),
        )
    )
    stack = healer_stack(project.name)
    refused = [
        alert("web", action="signal:KILL", fingerprint="kill"),
        alert("web", action="signal:HUP", fingerprint="hup"),
        alert("web", action="recreate", fingerprint="recreate"),
        alert("web", action="scale_up", fingerprint="scale"),
    ]
    allowed = [alert("opted", action="signal:SIGKILL"), alert("opted", action="recreate")]
    with serve(alerts_app(stack)) as url:
        results = post(url, *refused, *allowed).json()["results"]
        decisions = [(r["decision"], r["reason"]) for r in results]
        assert decisions == [("skipped", "not_allowed")] * 4 + [("queued", "")] * 2, results
        history = alert_history(url, "web")
    kill = [e for e in history if e["action"] == "signal:KILL"]
    assert [(e["outcome"], e["reason"]) for e in kill] == [("skipped", "not_allowed")]
    assert "healer.alerts.actions" in kill[0]["detail"]
    host = socket.gethostname()
    queued = _queued(redis_client, f"healer.repair@{host}")
    assert sorted(kw["action"] for _name, _id, kw in queued) == ["recreate", "signal:KILL"]
    assert {kw["sid"] for _name, _id, kw in queued} == {f"{project.name}/opted"}


def test_a_batch_over_the_cap_is_answered_without_acting_on_the_rest(
    healer_stack: HealerFactory,
) -> None:
    stack = healer_stack("none")
    many = [alert("ghost", fingerprint=f"g{i}") for i in range(MAX_ALERTS_PER_BATCH + 5)]
    with serve(alerts_app(stack)) as url:
        results = post(url, *many).json()["results"]
    assert len(results) == MAX_ALERTS_PER_BATCH + 5
    assert [r["reason"] for r in results[-5:]] == ["batch_cap"] * 5
    assert all(r["reason"] == "not_found" for r in results[:-5])


def test_a_scale_down_alert_becomes_a_scale_task_for_one_fewer(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    redis_client: redis.Redis,
    test_image: str,
) -> None:
    opted = {"healer.scale.metric": "cpu", "healer.scale.alert_down": "true"}
    project = compose_project(
        compose_yaml(
            healthy_service_yaml(test_image, "web", labels=opted),
            healthy_service_yaml(test_image, "fixed", labels={"healer.scale.metric": "cpu"}),
        )
    )
    stack = healer_stack(project.name)
    with TestClient(alerts_app(stack)) as client:
        quiet = alert("web", alertname="QueueIdle", action="scale_down")
        unasked = alert("fixed", alertname="QueueIdle", action="scale_down")
        resp = client.post("/alerts", headers=AUTH, json=webhook(quiet, unasked))
    assert resp.status_code == 202, resp.text
    down, refused = resp.json()["results"]
    assert down["decision"] == "queued"
    # Autoscaled but without healer.scale.alert_down: alerts may not take capacity away.
    assert (refused["decision"], refused["reason"]) == ("skipped", "not_allowed")
    host = socket.gethostname()
    ((task, _id, kwargs),) = _queued(redis_client, f"healer.scale@{host}")
    # -2: one replica fewer than runs when the task executes (the task checks the opt-in too).
    assert (task, kwargs["replicas"], kwargs["source"]) == ("healer.scale.service", -2, "alert")
