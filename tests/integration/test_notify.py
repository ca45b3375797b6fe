"""Notifications through the real Apprise library to a receiver on 127.0.0.1 (Apprise's
`json://` target), delivered off the caller's thread."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

from healer.adapters.notify import Notifier
from healer.adapters.outbound.apprise_target import apprise_sender
from tests.support import wait_until


def test_a_notification_reaches_an_apprise_target() -> None:
    got: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        notifier = Notifier(None, apprise=apprise_sender(f"json://127.0.0.1:{port}/notify"))
        fields = {"service": "shop/web", "attempts": "3"}
        assert notifier.send("critical", "shop/web quarantined", "3 repairs failed", fields)
        wait_until(lambda: got, timeout=15, message="the Apprise delivery")
        assert got[0]["title"] == "shop/web quarantined"
        assert got[0]["type"] == "failure"
        assert "3 repairs failed" in got[0]["message"] and "service: shop/web" in got[0]["message"]
    finally:
        server.shutdown()
        server.server_close()
