"""GET /metrics of a live healer, scraped by a real Prometheus that then runs every query of
the Grafana dashboard and evaluates the shipped alert rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring.dashboard import REPO_ROOT, dashboard_queries
from tests.support import (
    ComposeFactory,
    compose_yaml,
    free_port,
    healthy_service_yaml,
    wait_until,
)
from tests.support.healer import HealerFactory

AUTH = {"Authorization": "Bearer test-token-0123456789"}
RULES = REPO_ROOT / "monitoring" / "prometheus" / "alerts"
T = TypeVar("T")

# The seed's series (docs/architecture.md, Public names), sample name → exact label names:
# the seed's, plus the Docker host every series carries since one cluster heals many hosts,
# and the compose project beside every service (to join with cAdvisor's labels).
SEED_SERIES = {
    "repair_attempts_total": {"service", "action", "success", "host", "project"},
    "service_health_status": {"service", "status", "host", "project"},
    "service_failure_count": {"service", "host", "project"},
    "service_last_repair_timestamp": {"service", "host", "project"},
}


class Prometheus:
    """The Debian `prometheus` binary scraping one target every second."""

    def __init__(self, target: str) -> None:
        if not shutil.which("prometheus"):
            pytest.fail("the `prometheus` binary is missing (apt-get install prometheus)")
        self.dir = Path(tempfile.mkdtemp(prefix="healer-prom-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = self.dir / "prometheus.yml"
        # Prometheus sends the metrics token from a file, as the compose stack does.
        token = self.dir / "healer_metrics_token"
        token.write_text("metrics-token-0123456789\n")
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            f"rule_files:\n  - {RULES}/*.yml\n"
            "scrape_configs:\n"
            "  - job_name: healer-api\n"
            "    authorization:\n"
            f"      credentials_file: {token}\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.log = self.dir / "prometheus.out"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def query(self, expr: str) -> dict[str, Any]:
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        data: dict[str, Any] = resp.json()
        return data

    def vector(self, expr: str) -> list[dict[str, Any]]:
        data = self.query(expr)
        assert data["status"] == "success", f"{expr}: {data}"
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def prometheus() -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        prom = Prometheus(target)
        started.append(prom)
        return prom

    yield start
    for prom in started:
        prom.stop()


def _samples(text: str) -> tuple[dict[str, list[Any]], set[str]]:
    """Sample name → samples, and every series name the exposition declares (a family with
    no samples yet still counts: its series appear once there is something to count)."""
    samples: dict[str, list[Any]] = {}
    declared: set[str] = set()
    for family in text_string_to_metric_families(text):
        declared |= {family.name, *(family.name + s for s in ("_total", "_bucket", "_sum"))}
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples, declared


def _wait(predicate: Callable[[], T], timeout: float, what: str, logs: Callable[[], str]) -> T:
    """wait_until, with the logs read when it gives up (not when it starts)."""
    try:
        return wait_until(predicate, timeout=timeout, ignore=(httpx.HTTPError,), message=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{logs()}") from None


def _referenced_series(queries: list[str]) -> set[str]:
    names = set()
    for q in queries:
        names |= set(re.findall(r"\b((?:healer|service|repair)_[a-z_]+)\b", q))
    return names


def test_metrics_endpoint_and_dashboard_queries_on_a_real_prometheus(
    compose_project: ComposeFactory,
    healer_stack: HealerFactory,
    prometheus: Any,
    test_image: str,
) -> None:
    project = compose_project(compose_yaml(healthy_service_yaml(test_image, "web")), wait=True)
    sid = f"{project.name}/web"
    stack = healer_stack(project.name, WATCHDOG_INTERVAL="1")
    stack.worker()
    stack.beat()  # reconcile probes: snapshots behind service_health_status
    url = stack.api()

    # State for every seed series: a probe has seen the service, and a repair has acted.
    task = httpx.post(f"{url}/repair/web", headers=AUTH, timeout=10).json()["request_id"]
    _wait(
        lambda: httpx.get(f"{url}/requests/{task}", headers=AUTH).json().get("outcome") == "acted",
        60,
        "the ad-hoc repair to act",
        stack.tail,
    )
    host = socket.gethostname()
    name = sid.split("/")[0]
    healthy = (
        f'service_health_status{{host="{host}",project="{name}",service="{sid}",'
        'status="healthy"} 1.0'
    )
    _wait(
        lambda: healthy in httpx.get(f"{url}/metrics", headers=AUTH).text,
        30,
        f"{healthy} in /metrics",
        lambda: httpx.get(f"{url}/metrics", headers=AUTH).text + stack.tail(),
    )
    text = httpx.get(f"{url}/metrics", headers=AUTH).text
    samples, declared = _samples(text)
    for name, labels in SEED_SERIES.items():
        assert name in samples, f"{name} missing from /metrics:\n{text}"
        assert all(set(s.labels) == labels for s in samples[name]), samples[name]
    restarts = {
        (s.labels["action"], s.labels["success"]): s.value
        for s in samples["repair_attempts_total"]
        if s.labels["service"] == sid
    }
    assert restarts[("restart", "true")] == 1.0, restarts
    assert all(s.value > 0 for s in samples["service_last_repair_timestamp"])
    healer_series = {n for n in samples if n.startswith("healer_")}
    assert {"healer_decisions_total", "healer_queue_depth"} <= healer_series, healer_series

    prom = prometheus(url.removeprefix("http://"))
    _wait(
        lambda: httpx.get(f"{prom.url}/-/ready", timeout=2).status_code == 200,
        30,
        "Prometheus to be ready",
        prom.tail,
    )
    # Two scrapes at least, so rate()/increase() have a pair of samples to work with.
    _wait(
        lambda: len(prom.vector('count_over_time(up{job="healer-api"}[1m]) >= 2 and up == 1')),
        30,
        "two successful scrapes of the API",
        lambda: json.dumps(prom.vector("up")) + "\n" + prom.tail(),
    )

    for name in SEED_SERIES:
        assert prom.vector(name), f"{name} not in Prometheus"

    queries = dashboard_queries()
    errors, non_empty = [], 0
    for expr in queries:
        data = prom.query(expr)
        if data.get("status") != "success":
            errors.append(f"{expr}: {data.get('errorType')}: {data.get('error')}")
        elif data["data"]["result"]:
            non_empty += 1
    assert not errors, "\n".join(errors)
    print(f"{non_empty}/{len(queries)} dashboard queries returned data")
    missing = sorted(_referenced_series(queries) - declared)
    if missing:
        warnings.warn(
            f"dashboard series not exported by /metrics: {', '.join(missing)}", stacklevel=1
        )
    assert non_empty >= len(queries) // 2, f"only {non_empty}/{len(queries)} returned data"

    # The shipped alert rules evaluate against the live series without error.
    def evaluated() -> list[dict[str, Any]]:
        groups = httpx.get(f"{prom.url}/api/v1/rules").json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        # Before its first evaluation a rule's lastEvaluation is Go's zero time.
        done = all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rules)
        return rules if rules and done else []

    rules = _wait(evaluated, 30, "every rule to be evaluated", prom.tail)
    broken = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") != "ok"]
    assert not broken, "\n".join(broken)
