"""The operator's interfaces against the running healer (a real worker and the API as
subprocesses, the real Redis and Docker): the operations over HTTP, problem+json errors,
the /history cursor, the CLI's `-o json` equal to the API's bodies, `history --follow`."""

from __future__ import annotations

import contextlib
import http.server
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from healer.adapters.outbound import signing
from healer.api.app import create_app
from healer.settings import Settings
from tests.support import ComposeFactory, compose_yaml, healthy_service_yaml, wait_until
from tests.support.healer import HealerFactory, HealerStack

AUTH = {"Authorization": "Bearer test-token-0123456789"}


def get(url: str, **kw: Any) -> httpx.Response:
    """A read with the operator's token: every route but the health probes needs one."""
    return httpx.get(url, headers=AUTH, **kw)


PROBLEM = "application/problem+json"
SECRET = "webhook-secret-0123456789"
VOLATILE = ("heartbeat_age", "cooldown_remaining", "last_heartbeat", "elapsed", "observed_at")


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps each delivery; refuses each body the first
    time with 503 so the sender's retry is exercised."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                first = all(b != body for _, b in outer.got)
                outer.got.append((dict(self.headers), body))
                self.send_response(503 if first else 200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def stack(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    test_image: str,
    receiver: Receiver,
) -> Iterator[HealerStack]:
    # A lenient healthcheck: on a loaded machine a 1 s timeout flaps, and the bodies compared
    # below would differ by the flap, not by the interface.
    web = healthy_service_yaml(test_image, "web", timeout="5s", retries=3)
    project = compose_project(compose_yaml(web), wait=True)
    s = healer_stack(
        project.name,
        HEALER_POST_REPAIR_WEBHOOK=receiver.url,
        HEALER_WEBHOOK_SECRET=SECRET,
        HEALER_WEBHOOK_TOKEN="hook-token",
        HEALER_WEBHOOK_HEADERS='{"X-Team": "ops"}',
    )
    s.worker()
    s.api()
    # The worker's first host heartbeat: before it, /status has no host to show.
    wait_until(lambda: get(f"{s.api_url}/status").json()["hosts"], timeout=60)
    yield s


def is_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 body: its media type, and type/title/status/detail/instance."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["title"] and body["detail"], body
    assert body["type"] == "about:blank" and body["instance"] == resp.url.path, body
    return body


def done(url: str, location: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        data: dict[str, Any] = get(url + location, timeout=10).json()
        return data if data.get("status") == "done" else {}

    return wait_until(read, timeout=90, message=f"{location} to be done")


def every_error_is_problem_json(url: str) -> None:
    assert get(f"{url}/livez").json() == {"ok": True}
    assert get(f"{url}/readyz").status_code == 200
    is_problem(httpx.post(f"{url}/pause/web"), 401)
    assert "nosuch" in is_problem(httpx.post(f"{url}/pause/nosuch", headers=AUTH), 404)["detail"]
    bad = is_problem(httpx.post(f"{url}/scale/web", headers=AUTH, json={"replicas": "x"}), 422)
    assert any(p.startswith("replicas:") for p in bad["problems"]), bad
    is_problem(httpx.post(f"{url}/scale/web", headers=AUTH, json={}), 422)
    is_problem(httpx.post(f"{url}/reset/web", headers=AUTH, content=b"{no"), 422)
    limit = is_problem(get(f"{url}/history", params={"limit": 0}), 422)
    assert any("limit" in p for p in limit["problems"]), limit
    cursor = is_problem(get(f"{url}/history", params={"before": "yesterday"}), 422)
    assert "before=" in cursor["detail"]
    is_problem(get(f"{url}/requests/0123"), 404)
    is_problem(get(f"{url}/no/such/route"), 404)


def test_operations_over_http_leave_a_record_and_match_the_cli(stack: HealerStack) -> None:
    # One stack for the module's claims about the API: each start costs ~15 s.
    url = stack.api_url
    every_error_is_problem_json(url)
    paused = httpx.post(f"{url}/pause/web", headers=AUTH, json={"reason": "deploy 42"})
    assert paused.status_code == 200, paused.text
    rid = paused.json()["request_id"]
    assert paused.headers["location"] == f"/requests/{rid}"
    record = get(url + paused.headers["location"]).json()
    assert (record["request_id"], record["status"], record["outcome"]) == (rid, "done", "acted")
    status = get(f"{url}/status").json()
    assert [s["paused"] for s in status["services"].values()] == [True], status
    entry = get(f"{url}/history", params={"limit": 1}).json()["entries"][0]
    assert (entry["outcome"], entry["reason"], entry["request_id"]) == ("paused", "deploy 42", rid)

    # The CLI's bodies are the API's: status (volatile ages aside), history, pause.
    wait_until(
        lambda: _steady(cli_json(stack, "status")) == _steady(get(f"{url}/status").json()),
        timeout=60,
        message="healer status -o json to equal GET /status",
    )
    top = get(f"{url}/history", params={"limit": 1}).json()["entries"][0]["id"]
    page = {"limit": 3, "before": top}
    api_page = get(f"{url}/history", params=page).json()
    assert cli_json(stack, "history", "--limit", "3", "--before", top) == api_page
    assert [e["id"] for e in api_page["entries"]] == sorted(
        (e["id"] for e in api_page["entries"]), key=_id_key, reverse=True
    )
    by_cli = cli_json(stack, "resume", "web", "--reason", "deployed")
    by_api = httpx.post(f"{url}/pause/web", headers=AUTH, json={"reason": "deployed"}).json()
    assert by_cli.keys() == by_api.keys() and by_cli["request_id"] != by_api["request_id"]
    assert httpx.post(f"{url}/resume/web", headers=AUTH).status_code == 200

    reset = httpx.post(f"{url}/reset/web", headers=AUTH, json={"reason": "fixed by hand"})
    assert reset.status_code == 200 and reset.json()["action"] == "reset", reset.text

    scaled = httpx.post(f"{url}/scale/web", headers=AUTH, json={"replicas": 2, "reason": "load"})
    assert scaled.status_code == 202, scaled.text
    outcome = done(url, scaled.headers["location"])
    assert outcome["outcome"] == "acted", outcome
    assert _replicas(url) == 2
    back = cli_json(stack, "scale", "web", "1", "--reason", "quiet")
    assert back == get(f"{url}/requests/{back['request_id']}").json()
    assert back["outcome"] == "acted" and _replicas(url) == 1, back


def test_history_follow_prints_a_repair_as_it_happens_and_its_webhook_is_signed(
    stack: HealerStack, receiver: Receiver
) -> None:
    url = stack.api_url
    follower = subprocess.Popen(
        [sys.executable, "-m", "healer", "history", "--follow", "-o", "json", "--since", "1s"],
        cwd=stack.root,
        env=stack.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(follower, lines), daemon=True).start()
        _wait_following(url, lines)
        queued = httpx.post(f"{url}/repair/web", headers=AUTH, json={"reason": "followed"})
        rid = queued.json()["request_id"]
        assert queued.headers["location"] == f"/requests/{rid}"
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(
            e["request_id"] == rid and e["outcome"] == "acted" for e in seen
        ):
            with contextlib.suppress(queue.Empty):
                seen.append(json.loads(lines.get(timeout=1)))
        outcomes = [e["outcome"] for e in seen if e["request_id"] == rid]
        assert outcomes == ["requested", "acted"], seen
    finally:
        follower.terminate()
        follower.wait(timeout=20)

    # The same repair's post-repair webhook: signed, authenticated, retried after a 503.
    def ours() -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in receiver.got if json.loads(b)["request_id"] == rid]

    wait_until(lambda: len(ours()) >= 2, timeout=30, message="the retried delivery")
    (_, refused), (headers, body) = ours()[:2]
    assert refused == body  # answered 503 the first time: delivered again, off the repair
    assert signing.verify(SECRET, headers, body), headers
    assert not signing.verify("another-secret", headers, body)
    assert headers["Authorization"] == "Bearer hook-token" and headers["X-Team"] == "ops"
    payload = json.loads(body)
    assert (payload["request_id"], payload["outcome"], payload["success"]) == (rid, "acted", True)


def test_the_history_cursor_walks_past_ten_thousand_entries(
    healer_stack: HealerFactory, redis_url: str
) -> None:
    stack = healer_stack("none")
    stack.api()
    r = redis.Redis.from_url(redis_url)
    now = repr(time.time())
    with r.pipeline(transaction=False) as pipe:
        for i in range(10_050):
            pipe.xadd("healer:history", {"sid": f"p/s{i}", "outcome": "info", "ts": now})
        pipe.execute()
    r.close()
    ids: list[str] = []
    params: dict[str, Any] = {"limit": 4000}
    for _ in range(10):  # 10,050 entries in pages of 4,000: three pages and an empty end
        body = get(f"{stack.api_url}/history", params=params, timeout=60).json()
        ids += [e["id"] for e in body["entries"]]
        if body["next"] is None:
            break
        params["before"] = body["next"]
    assert len(ids) == len(set(ids)) == 10_050
    assert ids == sorted(ids, key=_id_key, reverse=True)


def _wait_following(url: str, lines: queue.Queue[str]) -> None:
    """Until the follower prints a marker entry (a reset of `web`), so it is past its start
    and everything recorded from now on must reach it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        marker = httpx.post(f"{url}/reset/web", headers=AUTH, json={"reason": "marker"})
        wanted = marker.json()["request_id"]
        with contextlib.suppress(queue.Empty):
            while True:
                if json.loads(lines.get(timeout=2))["request_id"] == wanted:
                    return
    raise AssertionError("the follower printed none of the markers")


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """The follower's lines into a queue, so the test's wait has a deadline."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)


def cli_json(stack: HealerStack, *args: str) -> Any:
    return json.loads(stack.cli(*args, "-o", "json").stdout)


def _replicas(url: str) -> int:
    services = get(f"{url}/status").json()["services"]
    return sum(len(s["containers"]) for s in services.values())


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def _steady(body: Any) -> Any:
    """The body without the ages and countdowns that move between two reads."""
    if isinstance(body, dict):
        return {k: _steady(v) for k, v in body.items() if k not in VOLATILE}
    if isinstance(body, list):
        return [_steady(v) for v in body]
    return body


def test_an_absent_engine_answers_503_problems_with_retry_after(
    redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=redis_url,
        docker_host="unix:///nonexistent/healer-iface.sock",
        api_token="test-token-0123456789",
        api_allowed_hosts="testserver",  # TestClient's Host
        log_dir=tmp_path,
    )
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    assert client.get("/livez").status_code == 200  # the process itself is fine
    for route in ("/readyz", "/healthz"):
        ready = client.get(route)
        assert ready.status_code == 503 and ready.headers["retry-after"].isdigit(), route
    down = client.post("/pause/web", headers=AUTH)
    assert down.status_code == 503 and down.headers["retry-after"].isdigit()
    assert down.headers["content-type"].startswith(PROBLEM)
    # What failed, not where: the socket's path stays in the API's log.
    assert "Docker engine unreachable" in down.text and "healer-iface.sock" not in down.text


def test_the_cli_version_and_its_exit_code_for_an_absent_redis(
    healer_stack: HealerFactory,
) -> None:
    stack = healer_stack("none", REDIS_URL="redis://127.0.0.1:1/0")
    assert stack.cli("--version").stdout.strip().startswith("healer ")
    down = stack.cli("status", "-o", "json", check=False)
    assert down.returncode == 3 and "Redis unavailable" in down.stderr, down


def test_renamed_series_are_exported_beside_their_deprecated_names(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=redis_url,
        projects="none",
        log_dir=tmp_path,
        api_token="test-token-0123456789",
        api_allowed_hosts="testserver",  # TestClient's Host
    )
    app = create_app(settings)
    host = app.state.healer.host
    container = f'container="shop-web-1",host="{host}",project="shop",service="shop/web"'
    redis_client.hset(
        f"healer:metrics:resources:{host}",
        mapping={"shop/web|shop-web-1|network": "0.5", "shop/web|shop-web-1|network_total": "42"},
    )
    redis_client.hset("healer:metrics:container_events", f"restarts|{host}|shop/web|shop-web-1", 3)
    redis_client.hset("healer:metrics:cleanup_bytes_by_host", host, 1024)
    text = TestClient(app).get("/metrics", headers=AUTH).text
    assert f"healer_container_network_errors_total{{{container}}} 42.0" in text
    assert f"healer_container_network_errors_per_second{{{container}}} 0.5" in text
    assert f"healer_container_restarts_total{{{container}}} 3.0" in text
    assert f"healer_container_restart_count{{{container}}} 3.0" in text
    assert f'healer_cleanup_freed_bytes_total{{host="{host}"}} 1024.0' in text
    assert f'healer_cleanup_bytes_freed_total{{host="{host}"}} 1024.0' in text
    assert "# TYPE healer_container_restarts_total counter" in text
    assert "HELP healer_container_network_errors_per_second Deprecated" in text
