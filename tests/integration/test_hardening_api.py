"""Issue 10 regressions at the HTTP API: the token before the body, a 4xx for every bad input,
503 (and a failed request record) when the broker refuses, /metrics whatever the service id.

The app is the real one from create_app() on the tests' Redis db; the size tests speak raw
HTTP to a real uvicorn server so "the body was never read" is observable.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kombu.exceptions import OperationalError

from healer.adapters.metrics.counters import Counters
from healer.adapters.store import keys
from healer.api.app import create_app
from healer.core.model import HostId
from healer.settings import Settings
from tests.integration.test_alerts_api import AUTH as ALERTS
from tests.integration.test_alerts_api import OPERATOR as AUTH
from tests.integration.test_alerts_api import alert, serve, webhook
from tests.support import ComposeFactory, compose_yaml, healthy_service_yaml

TOKEN = AUTH["Authorization"].split()[1]
ALERTS_TOKEN = ALERTS["Authorization"].split()[1]
# The in-process client's Host header, and the served one's.
HOSTS = "testserver,127.0.0.1"


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    yield create_app(
        Settings(
            redis_url=redis_url,
            projects="none",
            api_token=TOKEN,
            alerts_token=ALERTS_TOKEN,
            api_allowed_hosts=HOSTS,
            log_dir=tmp_path,
        )
    )


def _raw_post(url: str, path: str, declared: int, sent: bytes, headers: str = "") -> bytes:
    """Declare `declared` bytes, send only `sent`, and read what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n{headers}\r\n"
        )
        sock.sendall(head.encode() + sent)
        return sock.recv(65536)


def test_an_unauthenticated_huge_repair_body_is_refused_before_it_is_read(app: FastAPI) -> None:
    with serve(app) as url:
        started = time.monotonic()
        # 50 MiB declared, 1 KiB sent: the answer must come without the rest of the body.
        answer = _raw_post(url, "/repair/web", 50 << 20, b"{" + b" " * 1023)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert time.monotonic() - started < 5
        # With the token, a body over the cap is 413, again without reading it.
        auth = f"Authorization: Bearer {TOKEN}\r\n"
        answer = _raw_post(url, "/repair/web", 50 << 20, b"{", auth)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_bad_input_is_a_4xx_naming_the_problem(app: FastAPI) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/history", params={"since": "1e308"}, headers=AUTH)
    assert r.status_code == 422 and "since" in r.text
    assert client.get("/history", params={"limit": "0"}, headers=AUTH).status_code == 422
    nested = b'{"version": "4", "alerts": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    r = client.post("/alerts", content=nested, headers=ALERTS)
    assert r.status_code == 422 and "nested" in r.text
    r = client.post("/repair/web", content=b"[" * 20_000 + b"]" * 20_000, headers=AUTH)
    assert r.status_code == 422
    r = client.post("/repair/web", json={"action": "explode"}, headers=AUTH)
    assert r.status_code == 422 and "action" in r.text


def test_metrics_survive_a_pipe_in_a_service_id(app: FastAPI, redis_client: redis.Redis) -> None:
    counters = Counters(redis_client, HostId("node-a"))
    counters.repair("odd/we|b", "restart", True)
    counters.decision("odd/we|b", "acted")
    redis_client.hset(
        "healer:metrics:container_events", "restarts|node-a|odd/we|b|odd-web-1", 2
    )  # what the events watcher writes
    r = TestClient(app).get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.text
    labels = 'action="restart",host="node-a",project="odd",service="odd/we|b",success="true"'
    assert f"repair_attempts_total{{{labels}}} 1.0" in r.text
    decisions = (
        'healer_decisions_total{host="node-a",outcome="acted",project="odd",service="odd/we|b"}'
    )
    assert f"{decisions} 1.0" in r.text
    container = 'container="odd-web-1",host="node-a",project="odd",service="odd/we|b"'
    assert f"healer_container_restarts_total{{{container}}} 2.0" in r.text
    assert f"healer_container_restart_count{{{container}}} 2.0" in r.text  # deprecated name
    assert 'healer_build_info{version="' in r.text
    assert "process_resident_memory_bytes" in r.text and "python_info{" in r.text


def _requests(r: redis.Redis) -> list[dict[str, Any]]:
    return [r.hgetall(k) for k in r.scan_iter(match=keys.request("*"))]


def _broken_broker(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise OperationalError("Error 111 connecting to broker:6379. Connection refused.")

    # The dispatcher's Celery app is the alerts router's sender too.
    monkeypatch.setattr(app.state.healer.dispatcher.app, "send_task", refuse)


def test_a_broker_failure_is_503_and_the_request_is_marked_failed(
    redis_url: str,
    tmp_path: Path,
    redis_client: redis.Redis,
    compose_project: ComposeFactory,
    test_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")))
    settings = Settings(
        redis_url=redis_url,
        projects=project.name,
        api_token=TOKEN,
        alerts_token=ALERTS_TOKEN,
        api_allowed_hosts=HOSTS,
        log_dir=tmp_path,
    )
    app = create_app(settings)
    _broken_broker(app, monkeypatch)
    client = TestClient(app, raise_server_exceptions=False)

    r = client.post("/repair/web", headers=AUTH)
    assert r.status_code == 503 and "broker" in r.text, r.text
    records = _requests(redis_client)
    assert len(records) == 1
    assert (records[0]["status"], records[0]["outcome"]) == ("done", "failed")
    assert records[0]["reason"] == "broker_unavailable"
    # Which token asked: its name and fingerprint, never the token.
    assert records[0]["by"].startswith("api:") and len(records[0]["by"]) == len("api:") + 8
    assert TOKEN not in json.dumps(records[0])

    cleanup = alert("host", alertname="DiskSpaceLow", fingerprint="disk1", action="cleanup")
    r = client.post("/alerts", content=json.dumps(webhook(cleanup)), headers=ALERTS)
    assert r.status_code == 503, r.text
    failed = [x for x in _requests(redis_client) if x.get("action") == "cleanup"]
    assert len(failed) == 1 and failed[0]["outcome"] == "failed"
    # Not acknowledged, so Alertmanager's retry must be handled, not collapsed as a duplicate.
    monkeypatch.undo()
    assert not redis_client.keys("healer:alert:seen:*")


def test_the_api_starts_and_answers_503_while_the_engine_is_away(
    redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=redis_url,
        docker_host="unix:///nonexistent/healer-test.sock",
        api_token=TOKEN,
        api_allowed_hosts=HOSTS,
        log_dir=tmp_path,
    )
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    r = client.get("/healthz")
    assert r.status_code == 503 and "unreachable" in r.json()["docker"]
    r = client.post("/repair/web", headers=AUTH)
    # What failed, not where: no socket path or exception text in the answer.
    assert r.status_code == 503 and "Docker engine unreachable" in r.text, r.text
    assert (
        "healer-test.sock" not in r.text and "healer-test.sock" not in client.get("/healthz").text
    )
    assert httpx.codes.is_success(client.get("/history", headers=AUTH).status_code)


def test_reads_need_a_token_each_token_reaches_its_own_routes_and_docs_are_offline(
    redis_url: str, tmp_path: Path
) -> None:
    metrics_token = "metrics-token-0123456789"
    settings = Settings(
        redis_url=redis_url,
        projects="none",
        api_token=TOKEN,
        alerts_token=ALERTS_TOKEN,
        metrics_token=metrics_token,
        api_allowed_hosts=HOSTS,
        log_dir=tmp_path,
    )
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    for path in ("/status", "/history", "/metrics", "/requests/abc"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=ALERTS).status_code == 403, path
    scraper = {"Authorization": f"Bearer {metrics_token}"}
    assert client.get("/metrics", headers=scraper).status_code == 200
    assert client.get("/status", headers=scraper).status_code == 403
    assert client.post("/repair/web", headers=scraper).status_code == 403
    assert client.get("/status", headers=AUTH).status_code == 200
    # Another Host (a DNS-rebinding page) is refused before anything else.
    assert client.get("/status", headers={**AUTH, "Host": "evil.example"}).status_code == 400
    # /docs and its assets come from the installed package: no CDN.
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    # Costly reads are rate-limited per process.
    codes = [client.get("/history", headers=AUTH).status_code for _ in range(60)]
    assert 429 in codes and codes[0] == 200
