"""demo-web: a tiny HTTP service for the compose-healer demo (stdlib only, any python3).

  GET  /         hello (answers 5xx at the error rate set below)
  GET  /health   200, or 503 when made unhealthy or when its database is unreachable
  GET  /metrics  http_requests_total{service,method,path,status} for Prometheus
  POST /chaos/unhealthy      fail /health from now on (the healer restarts the container)
  POST /chaos/errors?rate=R  answer R (0..1) of requests to / with 500 (HighErrorRate fires)
  POST /chaos/crash          exit 1 (the healer starts it again)
  POST /chaos/reset          back to normal

The chaos endpoints have no authentication: this is a demo, never publish it beyond localhost.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SERVICE = os.environ.get("SERVICE_NAME", "demo-web")
PORT = int(os.environ.get("PORT", "8080"))
DB_HOST = os.environ.get("DB_HOST", "")
DB_PORT = int(os.environ.get("DB_PORT", "5432"))
# Paths outside this set are counted as "other" so a client cannot create unbounded series.
KNOWN_PATHS = {"/", "/chaos/unhealthy", "/chaos/errors", "/chaos/crash", "/chaos/reset"}


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.unhealthy = False
        self.error_rate = 0.0

    def count(self, method: str, path: str, status: int) -> None:
        path = path if path in KNOWN_PATHS else "other"
        with self.lock:
            self.requests[(method, path, str(status))] += 1

    def metrics(self) -> str:
        lines = [
            "# HELP http_requests_total HTTP requests served, by method, path and status.",
            "# TYPE http_requests_total counter",
        ]
        with self.lock:
            items = sorted(self.requests.items())
        for (method, path, status), n in items:
            labels = f'service="{SERVICE}",method="{method}",path="{path}",status="{status}"'
            lines.append(f"http_requests_total{{{labels}}} {n}")
        return "\n".join(lines) + "\n"


STATE = State()


def database_reachable() -> bool:
    """A TCP connect is enough to show the healer's dependency handling (depends_on: postgres)."""
    if not DB_HOST:
        return True
    try:
        with socket.create_connection((DB_HOST, DB_PORT), timeout=2):
            return True
    except OSError:
        return False


class Handler(BaseHTTPRequestHandler):
    server_version = "demo-web/1"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._send(200, STATE.metrics(), "text/plain; version=0.0.4")
        elif path == "/health":
            # Probes are not counted: they would dilute the error rate HighErrorRate watches.
            healthy = not STATE.unhealthy and database_reachable()
            self._send(200 if healthy else 503, {"healthy": healthy}, count=False)
        elif path == "/":
            failing = random.random() < STATE.error_rate
            self._send(500 if failing else 200, {"service": SERVICE, "ok": not failing})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/chaos/unhealthy":
            STATE.unhealthy = True
        elif url.path == "/chaos/errors":
            rate = parse_qs(url.query).get("rate", ["1"])[0]
            STATE.error_rate = min(1.0, max(0.0, float(rate)))
        elif url.path == "/chaos/reset":
            STATE.unhealthy, STATE.error_rate = False, 0.0
        elif url.path == "/chaos/crash":
            self._send(202, {"crashing": True})
            os._exit(1)
        else:
            self._send(404, {"error": "not found"})
            return
        self._send(200, {"unhealthy": STATE.unhealthy, "error_rate": STATE.error_rate})

    def _send(self, status: int, body: object, ctype: str = "", *, count: bool = True) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        path = urlsplit(self.path).path
        if count and path != "/metrics":
            STATE.count(self.command, path, status)

    def log_message(self, format: str, *args: object) -> None:
        if urlsplit(self.path).path not in ("/health", "/metrics"):
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    # As PID 1 Python would ignore SIGTERM (no default action), making every stop take the
    # full grace period; shut down cleanly instead.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"{SERVICE} listening on :{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
