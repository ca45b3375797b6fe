"""Settings: contract env names and defaults, validation errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from healer.core.model import Condition
from healer.settings import Settings

ENV_NAMES = [
    alias
    for f in Settings.model_fields.values()
    for alias in getattr(f.validation_alias, "choices", [])
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No stray .env and no variable of the developer's shell leaks into a test."""
    monkeypatch.chdir(tmp_path)
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_every_field_has_an_env_name() -> None:
    assert all(getattr(f.validation_alias, "choices", None) for f in Settings.model_fields.values())
    assert all(n.isupper() for n in ENV_NAMES)


def test_every_setting_takes_the_healer_prefix() -> None:
    for name, f in Settings.model_fields.items():
        choices = [str(c) for c in f.validation_alias.choices]  # type: ignore[union-attr]
        own = name in ("docker_host", "autoheal_container_label")  # foreign names, kept as is
        assert own or any(c.startswith("HEALER_") for c in choices), name


def test_contract_defaults() -> None:
    s = Settings()
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.docker_host is None
    assert s.projects == ""
    assert s.project_list == ()
    assert s.watchdog_interval == 30
    assert s.max_restart_attempts == 3
    assert s.restart_cooldown == 300
    assert s.scaler_interval == 60
    assert (s.min_replicas, s.max_replicas) == (1, 5)
    assert s.api_token is None
    assert s.api_port == 8000
    assert s.log_dir == Path("logs")
    assert s.reset_after == 600
    assert s.backoff_max == 3600
    assert s.respect_manual_stop is False
    assert s.visibility_timeout > s.task_time_limit


def test_seed_env_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "REDIS_URL": "redis://cache:6379/2",
        "DOCKER_HOST": "tcp://dind:2375",
        "HEALER_PROJECTS": "shop",
        "WATCHDOG_INTERVAL": "5",
        "MAX_RESTART_ATTEMPTS": "7",
        "RESTART_COOLDOWN": "42",
        "SCALER_INTERVAL": "15",
        "MIN_REPLICAS": "2",
        "MAX_REPLICAS": "9",
        "HEALER_API_TOKEN": "s3cret-s3cret-s3cret",
        "HEALER_API_PORT": "9000",
        "HEALER_LOG_DIR": "/var/log/healer",
        "HEALER_RESET_AFTER": "120",
        "HEALER_BACKOFF_MAX": "900",
        "HEALER_RESPECT_MANUAL_STOP": "true",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    assert s.redis_url == "redis://cache:6379/2"
    assert s.docker_host == "tcp://dind:2375"
    assert s.project_list == ("shop",)
    assert s.watchdog_interval == 5
    assert s.max_restart_attempts == 7
    assert s.restart_cooldown == 42
    assert s.scaler_interval == 15
    assert (s.min_replicas, s.max_replicas) == (2, 9)
    assert s.api_token is not None
    assert s.api_token.get_secret_value() == "s3cret-s3cret-s3cret"
    assert "s3cret-s3cret-s3cret" not in repr(s)
    assert s.api_port == 9000
    assert s.log_dir == Path("/var/log/healer")
    assert (s.reset_after, s.backoff_max) == (120, 900)
    assert s.respect_manual_stop is True


def test_field_names_work_in_the_constructor() -> None:
    s = Settings(watchdog_interval=3, restart_cooldown=10, max_restart_attempts=1, projects="a")
    assert (s.watchdog_interval, s.restart_cooldown, s.max_restart_attempts) == (3, 10, 1)
    assert s.project_list == ("a",)


def test_no_stray_dot_env_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text("REDIS_URL=redis://someone-elses-app:6379/0\n")
    assert Settings().redis_url == "redis://localhost:6379/0"


def test_healer_env_file_is_read_and_the_environment_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = clean_env / "healer.env"
    env_file.write_text("WATCHDOG_INTERVAL=7\nHEALER_RESTART_COOLDOWN=1m30s\n")
    monkeypatch.setenv("HEALER_ENV_FILE", str(env_file))
    s = Settings()
    assert (s.watchdog_interval, s.restart_cooldown) == (7, 90)
    monkeypatch.setenv("RESTART_COOLDOWN", "12")
    assert Settings().restart_cooldown == 12


def test_a_missing_healer_env_file_is_an_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALER_ENV_FILE", str(clean_env / "nope.env"))
    with pytest.raises(ValidationError, match=r"HEALER_ENV_FILE=.*no such file"):
        Settings()


@pytest.mark.parametrize(
    ("old", "new", "value", "field", "expected"),
    [
        ("REDIS_URL", "HEALER_REDIS_URL", "redis://r:1/0", "redis_url", "redis://r:1/0"),
        ("WATCHDOG_INTERVAL", "HEALER_WATCHDOG_INTERVAL", "45", "watchdog_interval", 45),
        ("MAX_RESTART_ATTEMPTS", "HEALER_MAX_RESTART_ATTEMPTS", "4", "max_restart_attempts", 4),
        ("RESTART_COOLDOWN", "HEALER_RESTART_COOLDOWN", "2m", "restart_cooldown", 120),
        ("SCALER_INTERVAL", "HEALER_SCALER_INTERVAL", "15s", "scaler_interval", 15),
        ("MAX_REPLICAS", "HEALER_MAX_REPLICAS", "7", "max_replicas", 7),
    ],
)
def test_prefixed_and_historical_names_both_work_and_the_prefix_wins(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(old, value)
    assert getattr(Settings(), field) == expected
    monkeypatch.delenv(old)
    monkeypatch.setenv(new, value)
    assert getattr(Settings(), field) == expected
    monkeypatch.setenv(old, "999")
    assert getattr(Settings(), field) == expected


def test_docker_host_keeps_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert Settings().docker_host == "tcp://127.0.0.1:2375"


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("HEALER_RESET_AFTER", "1m30s", "reset_after", 90),
        ("HEALER_BOOT_POLL_INTERVAL", "500ms", "boot_poll_interval", 0.5),
        ("HEALER_BACKOFF_MAX", "2h", "backoff_max", 7200),
        ("HEALER_STOP_TIMEOUT", "20s", "stop_timeout", 20),
    ],
)
def test_durations_take_compose_syntax(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str, expected: float
) -> None:
    monkeypatch.setenv(name, value)
    assert getattr(Settings(), field) == expected


@pytest.mark.parametrize("value", ["-5", "-1m", "soon"])
def test_bad_durations_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RESTART_COOLDOWN", value)
    with pytest.raises(ValidationError, match="HEALER_RESTART_COOLDOWN or RESTART_COOLDOWN"):
        Settings()


def test_docker_autoheal_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AUTOHEAL_CONTAINER_LABEL": "all",
        "AUTOHEAL_INTERVAL": "5",
        "AUTOHEAL_START_PERIOD": "10",
        "AUTOHEAL_DEFAULT_STOP_TIMEOUT": "20",
        "WEBHOOK_URL": "http://127.0.0.1:9/hook",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert s.selector.everything
    assert (s.watchdog_interval, s.start_period, s.stop_timeout) == (5, 10, 20)
    assert (s.webhook_url, s.webhook_json_key) == ("http://127.0.0.1:9/hook", "text")


def test_the_healer_selector_wins_over_autoheal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOHEAL_CONTAINER_LABEL", "all")
    monkeypatch.setenv("HEALER_LABEL_SELECTOR", "healer.enable=true")
    assert Settings().selector.engine_filters() == ["healer.enable=true"]


@pytest.mark.parametrize(
    ("name", "value"), [("HEALER_LABEL_SELECTOR", "=x"), ("AUTOHEAL_CONTAINER_LABEL", "a b")]
)
def test_bad_selectors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WATCHDOG_INTERVAL", "x"),
        ("WATCHDOG_INTERVAL", "0"),
        ("WATCHDOG_INTERVAL", "-5"),
        ("MAX_RESTART_ATTEMPTS", "0"),
        ("MAX_RESTART_ATTEMPTS", "2.5"),
        ("RESTART_COOLDOWN", "-1"),
        ("HEALER_API_PORT", "70000"),
        ("HEALER_API_PORT", "http"),
        ("HEALER_RESPECT_MANUAL_STOP", "perhaps"),
        ("HEALER_CRASHLOOP_RESTARTS", "1"),
        ("HEALER_BACKOFF_MAX", "-1"),
    ],
)
def test_bad_env_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert name in str(exc.value)


def test_visibility_timeout_must_exceed_the_task_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEALER_TASK_TIME_LIMIT", "600")
    monkeypatch.setenv("HEALER_VISIBILITY_TIMEOUT", "600")
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert "HEALER_VISIBILITY_TIMEOUT" in str(exc.value)
    assert "HEALER_TASK_TIME_LIMIT" in str(exc.value)
    monkeypatch.setenv("HEALER_VISIBILITY_TIMEOUT", "601")
    assert Settings().visibility_timeout == 601


def test_raising_the_task_limit_alone_above_the_default_visibility_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEALER_TASK_TIME_LIMIT", "7200")
    with pytest.raises(ValidationError, match="HEALER_VISIBILITY_TIMEOUT"):
        Settings()


def test_visibility_check_with_field_names() -> None:
    with pytest.raises(ValidationError):
        Settings(task_time_limit=400, visibility_timeout=300)
    assert Settings(task_time_limit=10, visibility_timeout=11).visibility_timeout == 11


def test_min_replicas_above_max_replicas_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/architecture.md, Guarantees: bad settings get a clear error, not a scaler that
    # cannot satisfy both.
    monkeypatch.setenv("MIN_REPLICAS", "6")
    monkeypatch.setenv("MAX_REPLICAS", "5")
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert "MIN_REPLICAS" in str(exc.value)


@pytest.mark.parametrize(
    ("raw", "listed"),
    [
        ("", ()),
        ("shop", ("shop",)),
        ("shop,blog", ("shop", "blog")),
        (" shop , blog ,, ", ("shop", "blog")),
        (",,,", ()),
    ],
)
def test_projects_comma_list(
    monkeypatch: pytest.MonkeyPatch, raw: str, listed: tuple[str, ...]
) -> None:
    monkeypatch.setenv("HEALER_PROJECTS", raw)
    s = Settings()
    assert s.project_list == listed
    assert s.projects == ",".join(listed)


@pytest.mark.parametrize(
    ("condition", "defaults"),
    [
        (Condition.MEMORY, (600, 2)),
        (Condition.CPU, (600, 2)),
        (Condition.NETWORK, (300, 3)),
        (Condition.DISK, (3600, 1)),
    ],
)
def test_condition_defaults_from_the_design_table(
    condition: Condition, defaults: tuple[float, int]
) -> None:
    # fixed by the condition table (docs/architecture.md), whatever the seed variables say
    s = Settings(restart_cooldown=5, max_restart_attempts=9)
    assert s.condition_defaults(condition) == defaults


@pytest.mark.parametrize(
    "condition",
    [
        Condition.UNHEALTHY,
        Condition.EXITED,
        Condition.RESTARTING,
        Condition.ALERT,
        Condition.MANUAL,
    ],
)
def test_other_conditions_follow_the_seed_variables(
    monkeypatch: pytest.MonkeyPatch, condition: Condition
) -> None:
    assert Settings().condition_defaults(condition) == (300, 3)
    monkeypatch.setenv("RESTART_COOLDOWN", "120")
    monkeypatch.setenv("MAX_RESTART_ATTEMPTS", "5")
    assert Settings().condition_defaults(condition) == (120, 5)


def test_every_condition_has_defaults() -> None:
    s = Settings()
    for c in Condition:
        cooldown, attempts = s.condition_defaults(c)
        assert cooldown >= 0
        assert attempts >= 1


def test_plugin_timeout_defaults_to_half_the_lock_ttl_and_stays_below_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().strategy_time_limit == 60
    monkeypatch.setenv("HEALER_LOCK_TTL", "12")
    assert Settings().strategy_time_limit == 6
    monkeypatch.setenv("HEALER_PLUGIN_TIMEOUT", "12")
    with pytest.raises(ValidationError, match=r"HEALER_PLUGIN_TIMEOUT.*HEALER_LOCK_TTL"):
        Settings()
    monkeypatch.setenv("HEALER_PLUGIN_TIMEOUT", "5")
    assert Settings().strategy_time_limit == 5
