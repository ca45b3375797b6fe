"""What the worker's Docker proxy costs a call: the median latency of one inspect, direct on
the engine's socket, through the policy proxy (healer.adapters.dockerproxy) and through the
read-only HAProxy level, each from the docker SDK as the worker makes it.

    PYTHONPATH=. python benchmarks/docker_proxy.py [calls]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import docker

from tests.support import free_port, image_tag

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(client: docker.DockerClient, cid: str, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        client.api.inspect_container(cid)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(calls: int) -> None:
    policy, haproxy = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HEALER_PROXY_BIND": f"127.0.0.1:{policy}",
        "PROXY_BIND": f"127.0.0.1:{haproxy}",
        "DOCKER_SOCKET": "/var/run/docker.sock",
    }
    cfg = ROOT / "deploy" / "socket-proxy"
    procs = [
        subprocess.Popen([sys.executable, "-m", "healer.adapters.dockerproxy"], env=env),
        subprocess.Popen(
            ["haproxy", "-db", "-f", str(cfg / "common.cfg"), "-f", str(cfg / "readonly.cfg")],
            env=env,
            stdout=subprocess.DEVNULL,
        ),
    ]
    direct = docker.DockerClient(base_url="unix:///var/run/docker.sock")
    target = direct.containers.create(image_tag(), ["true"], name=f"bench-proxy-{os.getpid()}")
    try:
        time.sleep(2)  # both proxies listening
        for name, url in (
            ("direct", "unix:///var/run/docker.sock"),
            ("policy proxy", f"tcp://127.0.0.1:{policy}"),
            ("haproxy", f"tcp://127.0.0.1:{haproxy}"),
        ):
            ms = _median_ms(docker.DockerClient(base_url=url), target.id, calls)
            print(f"{name:>12}: inspect median {ms:.2f} ms over {calls} calls")
    finally:
        target.remove(force=True)
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
