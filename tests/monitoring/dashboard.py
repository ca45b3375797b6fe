"""The PromQL behind the Grafana dashboard `auto-repair`, ready to send to a real Prometheus.

`dashboard_queries()` is the one entry point other tests use: an integration test runs each
query against a Prometheus scraping a live healer and checks it evaluates without error.
Grafana's own variables are replaced by values Prometheus accepts (see GRAFANA_VARIABLES).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_PATH = REPO_ROOT / "monitoring" / "grafana" / "dashboards" / "auto-repair.json"

# Grafana substitutes these before a query reaches Prometheus. The values are what a default
# dashboard view (last hours, all services) would send; any valid value would do for a syntax
# and evaluation check.
GRAFANA_VARIABLES: dict[str, str] = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$service": ".*",
    "$host": ".*",
}

_VARIABLE = re.compile(r"\$\{?(__\w+|\w+)\}?")


def load_dashboard(path: Path = DASHBOARD_PATH) -> dict[str, Any]:
    """The dashboard JSON as Grafana provisions it."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def raw_dashboard_exprs(dashboard: dict[str, Any] | None = None) -> list[str]:
    """Each PromQL expression of the dashboard as written: panel targets, then annotations."""
    dashboard = dashboard or load_dashboard()
    exprs = [
        target["expr"]
        for panel in iter_panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]
    return exprs


def substitute_variables(expr: str) -> str:
    """Replace Grafana variables with GRAFANA_VARIABLES; an unknown one raises ValueError."""

    def replace(match: re.Match[str]) -> str:
        value = GRAFANA_VARIABLES.get("$" + match.group(1))
        if value is None:
            raise ValueError(f"no test value for Grafana variable {match.group(0)} in {expr!r}")
        return value

    return _VARIABLE.sub(replace, expr)


def dashboard_queries() -> list[str]:
    """Every PromQL query of the `auto-repair` dashboard, variables substituted, in panel order."""
    return [substitute_variables(expr) for expr in raw_dashboard_exprs()]
