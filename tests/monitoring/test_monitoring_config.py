"""monitoring/ is valid for the real tools and consistent with the healer's metric contract.

Needs promtool (Debian `prometheus`) and amtool (`prometheus-alertmanager`); without them every
tool-backed test fails with an install hint rather than skipping, so a CI machine that lost them
cannot go green.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

# The repository root is on sys.path (tests/conftest.py puts it first).
from tests.monitoring.dashboard import (
    REPO_ROOT,
    dashboard_queries,
    iter_panels,
    load_dashboard,
    raw_dashboard_exprs,
)
from tests.monitoring.promql import metric_names

MONITORING = REPO_ROOT / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "alerts").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*_test.yml"))
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
GRAFANA = MONITORING / "grafana"
README = MONITORING / "README.md"

# The healer's metric contract (README "Metrics", docs/architecture.md "Public names").
HEALER_METRICS = frozenset(
    {
        "repair_attempts_total",
        "service_health_status",
        "service_failure_count",
        "service_last_repair_timestamp",
        "healer_queue_depth",
        "healer_repair_storm_brake",
        "healer_storm_unhealthy_services",
        "healer_celery_workers_online",
        "healer_replicas",
        "healer_scale_events_total",
        "healer_quarantined_services",
        "healer_service_quarantined",
        "healer_cooldown_remaining_seconds",
        "healer_cleanup_freed_bytes_total",
        "healer_cleanup_bytes_freed_total",  # deprecated
        "healer_build_info",
        "healer_heartbeat_timestamp_seconds",
        "healer_decisions_total",
        "healer_repairs_in_flight",
        "healer_container_up",
        "healer_container_healthy",
        "healer_container_restarts_total",
        "healer_container_restart_count",  # deprecated
        "healer_container_oom_killed",
        "healer_container_cpu_ratio",
        "healer_container_memory_ratio",
        "healer_container_network_errors_total",
        "healer_container_network_errors_per_second",  # deprecated
        "healer_disk_used_ratio",
        "healer_host_up",
        "healer_host_last_heartbeat_timestamp_seconds",
        "healer_boot_recovery_duration_seconds",
        "healer_boot_recovery_in_progress",
        "healer_boot_dependency_timeouts_total",
    }
)
HEALER_HISTOGRAMS = ("healer_probe_duration_seconds", "healer_event_lag_seconds")
THIRD_PARTY_METRICS = frozenset(
    {
        "flower_worker_online",
        "flower_events_total",
        "http_requests_total",
        "pg_stat_activity_count",
        "pg_settings_max_connections",
    }
)
STANDARD_METRICS = frozenset({"up", "ALERTS"})
# redis_exporter's "Redis answers" gauge (HealerRedisDown) and its memory figures
# (HealerRedisMemoryHigh: from INFO, the exporter's user may not run CONFIG GET).
RULE_ONLY_METRICS = frozenset({"redis_up", "redis_memory_used_bytes", "redis_memory_max_bytes"})

SEED_ALERTS: dict[str, dict[str, str | None]] = {
    # name: expected `for`, auto_repair, action
    "ContainerUnhealthy": {"for": "1m", "auto_repair": "true", "action": "restart"},
    "ContainerDown": {"for": "1m", "auto_repair": "true", "action": "start"},
    "ContainerRestarting": {"for": "2m", "auto_repair": "true", "action": "stop_start"},
    "HighMemoryUsage": {"for": "5m", "auto_repair": "true", "action": "restart"},
    "HighCPUUsage": {"for": "10m", "auto_repair": "true", "action": "restart"},
    "DiskSpaceLow": {"for": "5m", "auto_repair": "true", "action": "cleanup"},
    "HighErrorRate": {"for": "5m", "auto_repair": "true", "action": "restart"},
    "DatabaseConnectionsHigh": {"for": "5m", "auto_repair": "false", "action": None},
    "CeleryQueueBacklog": {"for": "10m", "auto_repair": "true", "action": "scale_up"},
    "CeleryWorkerDown": {"for": "2m", "auto_repair": "false", "action": None},
    "WatchdogDown": {"for": "2m", "auto_repair": "false", "action": None},
    "TooManyRepairAttempts": {"for": "1m", "auto_repair": "false", "action": None},
}
REPAIR_ACTIONS = frozenset({"restart", "start", "stop_start", "cleanup", "scale_up"})
SEVERITIES = frozenset({"critical", "warning", "info"})

REQUIRED_PANELS = (
    "Service health overview",
    "Repair attempts timeline",
    "Repair success / failure rate",
    "Most repaired services (top 10)",
    "Cooldown status",
    "Failure counts (current episode)",
    "Quarantined services",
    "Replicas (current / desired / min / max)",
    "Scale events",
    "Celery queue depth",
    "Probe duration (p50 / p95 / p99)",
    "Docker event lag (p50 / p95 / p99)",
    "Heartbeat age",
)


# ---------------------------------------------------------------- helpers


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. Install the Debian package `{package}` "
            f"(apt-get install {package}); provisioning installs it for CI.",
            pytrace=False,
        )
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    return result


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def _rules() -> tuple[dict[str, Any], ...]:
    return tuple(
        rule for path in RULE_FILES for group in _yaml(path)["groups"] for rule in group["rules"]
    )


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _recording_rules() -> frozenset[str]:
    return frozenset(rule["record"] for rule in _rules() if "record" in rule)


def _allowed_metrics() -> frozenset[str]:
    histograms = {f"{h}_{s}" for h in HEALER_HISTOGRAMS for s in ("bucket", "sum", "count")}
    return HEALER_METRICS | histograms | THIRD_PARTY_METRICS | STANDARD_METRICS | _recording_rules()


# ---------------------------------------------------------------- the real tools


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    # promtool opens credential files: point the compose secret's path at a stand-in, beside
    # the real rule files.
    token = tmp_path / "healer_metrics_token"
    token.write_text("metrics-token-0123456789")
    text = PROMETHEUS_CONFIG.read_text().replace("/run/secrets/healer_metrics_token", str(token))
    assert str(token) in text
    (tmp_path / "alerts").symlink_to(PROMETHEUS_CONFIG.parent / "alerts")
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    _run(_tool("promtool", "prometheus"), "check", "config", config)


def test_alert_rules_are_valid() -> None:
    _run(_tool("promtool", "prometheus"), "check", "rules", *RULE_FILES)


def test_alert_rule_unit_tests_pass() -> None:
    result = _run(_tool("promtool", "prometheus"), "test", "rules", *RULE_TESTS)
    assert "SUCCESS" in result.stdout


def test_alertmanager_config_is_valid() -> None:
    _run(_tool("amtool", "prometheus-alertmanager"), "check-config", ALERTMANAGER_CONFIG)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            {"alertname": "ContainerUnhealthy", "auto_repair": "true", "severity": "warning"},
            "healer,blackhole",
        ),
        (
            {"alertname": "ContainerDown", "auto_repair": "true", "severity": "critical"},
            "healer,notify",
        ),
        ({"alertname": "WatchdogDown", "auto_repair": "false", "severity": "critical"}, "notify"),
        ({"alertname": "ProbeSlow", "auto_repair": "false", "severity": "warning"}, "slack"),
    ],
)
def test_alertmanager_routes(labels: dict[str, str], receivers: str) -> None:
    result = _run(
        _tool("amtool", "prometheus-alertmanager"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert result.stdout.strip() == receivers


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool has no "parse this expression" command; recording rules get parsed by the real
    # PromQL parser, so each query becomes one.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr}
                    for i, expr in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    _run(_tool("promtool", "prometheus"), "check", "rules", path)


# ---------------------------------------------------------------- alert rules


def test_there_are_at_least_20_uniquely_named_alerts() -> None:
    names = [rule["alert"] for rule in _rules() if "alert" in rule]
    assert len(names) >= 20
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", sorted(SEED_ALERTS))
def test_seed_alert_exists_with_its_labels(name: str) -> None:
    expected = SEED_ALERTS[name]
    rule = _alerts().get(name)
    assert rule is not None, f"seed alert {name} is missing"
    assert rule.get("for") == expected["for"]
    assert rule["labels"]["auto_repair"] == expected["auto_repair"]
    assert rule["labels"].get("action") == expected["action"]
    assert rule["labels"].get("service")


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_alert_has_labels_and_annotations(name: str) -> None:
    rule = _alerts()[name]
    labels, annotations = rule["labels"], rule["annotations"]
    assert labels["severity"] in SEVERITIES
    assert labels["auto_repair"] in {"true", "false"}
    assert labels["service"].strip()
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    assert annotations["runbook_url"] == f"docs/runbooks.md#{name.lower()}"


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_action_label_only_and_always_on_auto_repair_alerts(name: str) -> None:
    labels = _alerts()[name]["labels"]
    if labels["auto_repair"] == "true":
        assert labels.get("action") in REPAIR_ACTIONS
    else:
        assert "action" not in labels, "an informational alert must not name a repair"


def test_service_label_is_templated_where_the_series_has_one() -> None:
    # Alerts over per-service series must pass the series' service through.
    for name, rule in _alerts().items():
        expr = rule["expr"]
        per_service = metric_names(expr) & {
            "service_health_status",
            "service_failure_count",
            "healer_service_quarantined",
            "healer_container_up",
            "healer_container_healthy",
            "healer_container_memory_ratio",
            "healer_container_cpu_ratio",
            "healer_container_network_errors_per_second",
            "healer_container_network_errors_total",
            "healer_container_restarts_total",
        }
        if per_service:
            assert rule["labels"]["service"] == "{{ $labels.service }}", name


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_alert_reads_only_known_metrics(name: str) -> None:
    unknown = metric_names(_alerts()[name]["expr"]) - _allowed_metrics() - RULE_ONLY_METRICS
    assert not unknown, f"{name} reads metrics outside the contract: {sorted(unknown)}"


def test_every_alert_has_a_promtool_unit_test() -> None:
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for group in _yaml(path)["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert set(_alerts()) <= tested, f"untested alerts: {sorted(set(_alerts()) - tested)}"


# ---------------------------------------------------------------- prometheus.yml


def test_prometheus_scrapes_the_stack_and_alerts_alertmanager() -> None:
    config = _yaml(PROMETHEUS_CONFIG)
    jobs = {
        job["job_name"]: (job.get("metrics_path", "/metrics"), target)
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert jobs["healer-api"] == ("/metrics", "healer-api:8000")
    assert jobs["flower"] == ("/metrics", "flower:5555")
    assert jobs["demo-web"] == ("/metrics", "demo-web:8080")
    # HighErrorRate's `service` comes from the scrape target, not from what the app exports.
    by_name = {job["job_name"]: job for job in config["scrape_configs"]}
    (relabel,) = by_name["demo-web"]["relabel_configs"]
    assert relabel["target_label"] == "service" and relabel["source_labels"] == ["__address__"]
    healer = by_name["healer-api"]["authorization"]
    assert healer["credentials_file"] == "/run/secrets/healer_metrics_token"
    assert jobs["postgres-exporter"] == ("/metrics", "postgres-exporter:9187")
    assert config["rule_files"] == ["alerts/*.yml"]
    managers = config["alerting"]["alertmanagers"]
    assert managers[0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


# ---------------------------------------------------------------- alertmanager.yml


def test_auto_repair_alerts_reach_the_healer_webhook() -> None:
    config = _yaml(ALERTMANAGER_CONFIG)
    route = config["route"]
    assert route["group_by"] == ["alertname", "service"]
    healer_route = route["routes"][0]
    assert healer_route["receiver"] == "healer"
    assert healer_route["matchers"] == ['auto_repair="true"']
    assert healer_route["continue"] is True
    receivers = {r["name"]: r for r in config["receivers"]}
    (webhook,) = receivers["healer"]["webhook_configs"]
    assert webhook["url"] == "http://healer-api:8000/alerts"
    assert webhook["send_resolved"] is True
    assert 0 < webhook["max_alerts"] <= 100
    auth = webhook["http_config"]["authorization"]
    assert auth["credentials_file"] == "/etc/alertmanager/healer_alerts_token"
    assert "credentials" not in auth, "the token must come from the file, not the config"
    assert receivers["notify"]["slack_configs"] and receivers["notify"]["pagerduty_configs"]


def test_inhibit_rules_name_existing_alerts() -> None:
    names = set(_alerts())
    for rule in _yaml(ALERTMANAGER_CONFIG)["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            match = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            assert match, f"inhibit matcher is not on alertname: {matcher}"
            assert set(match.group(1).split("|")) <= names, matcher


# ---------------------------------------------------------------- grafana


def test_dashboard_identity() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "auto-repair"
    assert dashboard["title"] == "Auto-Repair System"


def test_dashboard_has_the_required_panels() -> None:
    titles = {p["title"] for p in iter_panels(load_dashboard()["panels"])}
    missing = [title for title in REQUIRED_PANELS if title not in titles]
    assert not missing


def test_dashboard_panels_are_well_formed() -> None:
    panels = [p for p in iter_panels(load_dashboard()["panels"]) if p["type"] != "row"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["expr"].strip(), panel["title"]


@pytest.mark.parametrize("query", dashboard_queries())
def test_dashboard_query_reads_only_known_metrics(query: str) -> None:
    names = metric_names(query)
    assert names, f"no metric in {query!r}"
    unknown = names - _allowed_metrics()
    assert not unknown, f"{query!r} reads metrics outside the contract: {sorted(unknown)}"


def test_dashboard_queries_have_no_grafana_variables_left() -> None:
    assert all("$" not in query for query in dashboard_queries())


def _variable(name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        v for v in load_dashboard()["templating"]["list"] if v["name"] == name
    ]
    (variable,) = found
    return variable


def test_dashboard_reads_prometheus_through_a_datasource_variable() -> None:
    # No hard-coded uid: importing into a Grafana whose Prometheus has another uid works.
    variable = _variable("datasource")
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    assert '"uid": "prometheus"' not in json.dumps(load_dashboard())
    for other in load_dashboard()["templating"]["list"]:
        if other["type"] == "query":
            assert other["datasource"]["uid"] == "${datasource}", other["name"]


def test_dashboard_service_variable_reads_a_known_metric() -> None:
    query = _variable("service")["query"]["query"]
    match = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?, service\)", query)
    assert match and match.group(1) in HEALER_METRICS


def test_dashboard_host_variable_filters_every_healer_query() -> None:
    host = _variable("host")
    assert host["query"]["query"] == "label_values(healer_host_up, host)"
    assert host["includeAll"] and host["multi"]
    exprs = [e for e in raw_dashboard_exprs() if metric_names(e) & HEALER_METRICS]
    unfiltered = [e for e in exprs if 'host=~"$host"' not in e]
    assert exprs and not unfiltered, unfiltered


def test_grafana_provisioning() -> None:
    (source,) = _yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert (source["uid"], source["type"], source["url"]) == (
        "prometheus",
        "prometheus",
        "http://prometheus:9090",
    )
    (provider,) = _yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# ---------------------------------------------------------------- docs


def test_readme_documents_every_alert_and_panel() -> None:
    text = README.read_text(encoding="utf-8")
    titles = {p["title"] for p in iter_panels(load_dashboard()["panels"])}
    missing = [n for n in sorted(_alerts()) if f"| {n} |" not in text]
    missing += [t for t in sorted(titles) if t not in text]
    assert not missing, f"monitoring/README.md does not describe: {missing}"
