"""The documentation states what the code and the files hold: every alert rule, setting,
label, CLI command, HTTP route and metric appears in its reference page. No services needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
import yaml
from pydantic import AliasChoices

import healer.cli
from healer.api.app import create_app
from healer.core import labels
from healer.core.boot import plan as boot
from healer.core.model import Condition
from healer.core.scaling import labels as scale_labels
from healer.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def alert_rules() -> list[str]:
    names = []
    for path in sorted((ROOT / "monitoring/prometheus/alerts").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names += [rule["alert"] for rule in group["rules"] if "alert" in rule]
    return names


def test_there_are_alert_rules_to_check() -> None:
    assert len(alert_rules()) >= 30


@pytest.mark.parametrize("alert", alert_rules())
def test_every_alert_is_on_the_alerts_page_and_has_a_runbook(alert: str) -> None:
    assert f"[{alert}](runbooks.md#{alert.lower()})" in page("alerts.md")
    assert re.search(rf"^## {alert}$", page("runbooks.md"), re.M), f"no '## {alert}' runbook"


def test_every_runbook_is_for_an_alert_that_exists() -> None:
    headings = re.findall(r"^## (\S+)$", page("runbooks.md"), re.M)
    assert sorted(headings) == sorted(alert_rules())


def _doc_texts() -> dict[str, str]:
    texts = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    texts["README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    return texts


def test_counts_of_alert_rules_quoted_anywhere_are_the_files_counts() -> None:
    total = len(alert_rules())
    for name, text in _doc_texts().items():
        for quoted in re.findall(r"(\d+) (?:alert |Prometheus )?rules\b", text):
            assert int(quoted) == total, f"{name} says {quoted} alert rules; the files hold {total}"


def settings_env_names() -> list[str]:
    """Every name a setting is read from (a setting may have several, e.g. a `HEALER_` one and
    the historical one)."""
    names: list[str] = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names += [c for c in choices if isinstance(c, str)]
    return names


def _config_rows() -> str:
    return "\n".join(line for line in page("configuration.md").splitlines() if line.startswith("|"))


@pytest.mark.parametrize("name", settings_env_names())
def test_every_setting_is_in_the_configuration_table(name: str) -> None:
    assert f"`{name}`" in _config_rows()


def compose_variables() -> list[str]:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text)))


@pytest.mark.parametrize("name", compose_variables())
def test_every_compose_stack_variable_is_in_the_configuration_table(name: str) -> None:
    assert f"`{name}`" in _config_rows()


def label_keys() -> list[str]:
    keys = [labels.OPT_OUT_LABEL, scale_labels.ROLE_LABEL]
    keys += [f"{scale_labels.PREFIX}{name}" for name in scale_labels.KNOWN]
    keys += [boot.ORDER_LABEL, boot.TIMEOUT_LABEL, boot.START_ANYWAY_LABEL]
    keys += [f"healer.<condition>.{setting}" for setting in ("cooldown", "max_attempts", "actions")]
    return keys


def _first_cells() -> list[str]:
    return [row.split(" | ")[0] for row in _config_rows().splitlines()]


@pytest.mark.parametrize("key", label_keys())
def test_every_label_is_in_the_label_table(key: str) -> None:
    assert any(f"`{key}`" in cell for cell in _first_cells()), f"no row for {key}"


@pytest.mark.parametrize("condition", [c.value for c in Condition])
def test_every_condition_a_label_may_name_is_listed(condition: str) -> None:
    assert f"`{condition}`" in page("configuration.md")


def _typer_app() -> typer.Typer:
    # healer.cli may be a module holding the app, or a package whose `app` module holds it.
    app: object = vars(healer.cli)["app"]
    found = app if isinstance(app, typer.Typer) else vars(app)["app"]
    assert isinstance(found, typer.Typer)
    return found


def cli_commands() -> list[tuple[str, list[str]]]:
    group = typer.main.get_command(_typer_app())
    commands = group.commands  # type: ignore[attr-defined]
    return [
        (name, [opt for p in cmd.params for opt in p.opts if opt.startswith("--")])
        for name, cmd in sorted(commands.items())
    ]


def _common_options_text() -> str:
    text = page("cli.md")
    start = text.index("## Options every command takes")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize(("command", "options"), cli_commands())
def test_every_cli_command_and_option_is_on_the_cli_page(command: str, options: list[str]) -> None:
    rows = [line for line in page("cli.md").splitlines() if f"`healer {command}" in line]
    assert rows, f"healer {command} is not on the CLI page"
    common = _common_options_text()
    for option in options:
        documented = any(option in row for row in rows) or f"`{option}" in common
        assert documented, f"healer {command} {option} is not documented"


def http_routes() -> list[str]:
    schema = create_app(Settings(api_token=None)).openapi()
    return [f"{method.upper()} {path}" for path, ops in schema["paths"].items() for method in ops]


@pytest.mark.parametrize("route", http_routes())
def test_every_http_route_is_on_the_api_page(route: str) -> None:
    assert f"`{route}" in page("api.md")


def metric_names() -> list[str]:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "healer").rglob("*.py"))
    found = re.findall(r"(?:MetricFamily|Histogram|Gauge|Counter)\(\s*\"([a-z_]+)\"", source)
    return sorted(set(found))


def test_there_are_metrics_to_check() -> None:
    assert len(metric_names()) >= 20


@pytest.mark.parametrize("metric", metric_names())
def test_every_metric_is_on_the_metrics_page(metric: str) -> None:
    assert f"`{metric}" in page("metrics.md")
