"""`python -m healer.adapters.dockerproxy`: the worker's Docker proxy.

Env: HEALER_PROXY_BIND (host:port, default 127.0.0.1:2375; `:2375` binds every address),
HEALER_PROXY_SOCKET (the engine's socket, default /var/run/docker.sock),
HEALER_PROXY_MAX_BODY (bytes, default 262144), HEALER_PROJECTS (comma list of managed
compose projects; empty: all)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from healer.adapters.dockerproxy.server import ProxyApp


def _bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise SystemExit(f"HEALER_PROXY_BIND={text!r}: expected host:port, e.g. 0.0.0.0:2375")
    return host.strip("[]") or "0.0.0.0", int(port)


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded call: noise
    host, port = _bind(os.environ.get("HEALER_PROXY_BIND", "127.0.0.1:2375"))
    max_body = os.environ.get("HEALER_PROXY_MAX_BODY", "262144")
    if not max_body.isdigit():
        raise SystemExit(f"HEALER_PROXY_MAX_BODY={max_body!r}: expected a number of bytes")
    projects = [p.strip() for p in os.environ.get("HEALER_PROJECTS", "").split(",") if p.strip()]
    app = ProxyApp(
        os.environ.get("HEALER_PROXY_SOCKET", "/var/run/docker.sock"), projects, int(max_body)
    )
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
