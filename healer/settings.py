"""The one typed settings object, read from the environment at entry points only.

Every setting is read as `HEALER_<NAME>`; the historical unprefixed names (REDIS_URL,
WATCHDOG_INTERVAL, ...) stay accepted as aliases, and docker-autoheal's variables are read too
(plain aliases, or the selector for AUTOHEAL_CONTAINER_LABEL).
No `.env` is read from the working directory: HEALER_ENV_FILE names the file to read, if any.
Every duration takes compose's syntax (`1m30s`, `500ms`) or plain seconds.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from healer.core.duration.parse import seconds as parse_seconds
from healer.core.hosts import down_after, validate_host
from healer.core.model import Condition, HostId
from healer.core.redis_url import redact_url
from healer.core.redis_url import validate as validate_redis_url
from healer.core.selection.selector import Selector, SelectorError, from_autoheal, parse_selector

# Threads a worker runs by default: enough for a mass failure of 100 services to reach the
# engine in parallel (the adaptive repair limit decides how many actually act). Threads are
# started only when tasks need them, so an idle worker does not pay for them.
THREADS_DEFAULT = 128

MIN_TOKEN_LENGTH = 16


# Names that keep their own spelling: DOCKER_HOST is the docker CLI's and SDK's variable.
_UNPREFIXED = frozenset({"DOCKER_HOST"})
ENV_FILE_VAR = "HEALER_ENV_FILE"


def _env(name: str, *more: str) -> AliasChoices:
    """The variable names a setting is read from, first found wins: `HEALER_<NAME>`, then
    the historical unprefixed name, then any foreign name (docker-autoheal's) in `more`.
    populate_by_name lets tests pass field names."""
    if name.startswith("HEALER_") or name in _UNPREFIXED:
        return AliasChoices(name, *more)
    return AliasChoices(f"HEALER_{name}", name, *more)


# Settings that are durations: each accepts compose's syntax or plain seconds, never a
# negative value. Add a new duration setting's field name here.
SECONDS_FIELDS = (
    "heartbeat_interval",
    "watchdog_interval",
    "restarting_grace",
    "crashloop_window",
    "restart_cooldown",
    "reset_after",
    "backoff_max",
    "quarantine_ttl",
    "lock_ttl",
    "stop_timeout",
    "verify_timeout",
    "plugin_timeout",
    "boot_timeout",
    "boot_deadline",
    "boot_poll_interval",
    "memory_window",
    "cpu_window",
    "network_window",
    "disk_interval",
    "cleanup_min_age",
    "scaler_interval",
    "scale_drain_timeout",
    "scale_start_timeout",
    "storm_window",
    "storm_interval",
    "history_retention",
    "alert_suppress",
    "docker_timeout",
    "task_time_limit",
    "visibility_timeout",
    "start_period",
    "redis_wait_timeout",
    "prometheus_timeout",
    "webhook_timeout",
)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused value is not repeated in the error, which the worker,
    # the watcher and the API print as they exit; REDIS_URL and the tokens are secrets.
    model_config = SettingsConfigDict(
        env_file=None,
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        hide_input_in_errors=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the file HEALER_ENV_FILE names, below the real environment: a `.env` in the
        # directory the healer happens to start in belongs to some application, not to it.
        path = os.environ.get(ENV_FILE_VAR, "").strip()
        if not path:
            return (init_settings, env_settings, file_secret_settings)
        dotenv = DotEnvSettingsSource(settings_cls, env_file=path)
        return (init_settings, env_settings, dotenv, file_secret_settings)

    # --- files -------------------------------------------------------------------------
    env_file: Path | None = Field(
        None,
        validation_alias=_env(ENV_FILE_VAR),
        description="A KEY=value file read for settings the environment does not set; "
        "unset: none (no `.env` is read from the working directory).",
    )

    # --- connections -------------------------------------------------------------------
    redis_url: str = Field("redis://localhost:6379/0", validation_alias=_env("REDIS_URL"))
    docker_host: str | None = Field(None, validation_alias=_env("DOCKER_HOST"))
    sentinel_master: str = Field(
        "mymaster",
        min_length=1,
        validation_alias=_env("HEALER_SENTINEL_MASTER"),
        description="Sentinel's name of the Redis master, when REDIS_URL is sentinel://.",
    )
    sentinel_password: SecretStr | None = Field(
        None,
        validation_alias=_env("HEALER_SENTINEL_PASSWORD"),
        description="Password of the sentinels themselves (their requirepass); the Redis "
        "password goes in REDIS_URL (sentinel://:password@host:26379;...).",
    )
    redis_wait_replicas: int | None = Field(
        None,
        ge=0,
        validation_alias=_env("HEALER_REDIS_WAIT_REPLICAS"),
        description="Replicas a repair claim waits for (Redis WAIT) before the repair acts; "
        "default 1 with Sentinel, 0 (no wait) with one Redis.",
    )
    redis_wait_timeout: float = Field(
        0.1,
        gt=0,
        le=5,
        validation_alias=_env("HEALER_REDIS_WAIT_TIMEOUT"),
        description="Seconds that WAIT may block; a claim not confirmed in time still acts "
        "and is recorded (history detail, healer_redis_unreplicated_claims_total).",
    )
    host: str = Field(
        default_factory=socket.gethostname,
        validation_alias=_env("HEALER_HOST"),
        description="Name of the Docker host this process serves (the identity its guard "
        "state, queues and metrics are keyed by); defaults to the machine's hostname.",
    )
    heartbeat_interval: float = Field(
        10,
        gt=0,
        validation_alias=_env("HEALER_HEARTBEAT_INTERVAL"),
        description="Seconds between a host agent's heartbeats; a host is reported "
        "host_down after about two missed ones. 10 s: a lost host shows within half a minute "
        "for one small Redis write per host every 10 s.",
    )
    beat_hosts: str = Field(
        "",
        validation_alias=_env("HEALER_BEAT_HOSTS"),
        description="Comma list of host-name patterns (shell style, e.g. rack1-*) a beat fans "
        "the schedule out to; empty: every host. Beats with different patterns each hold their "
        "own schedule lock, so disjoint sets split a large cluster over several beats.",
    )
    projects: str = Field(
        "",
        validation_alias=_env("HEALER_PROJECTS"),
        description="Comma list of compose projects to manage; empty manages every project.",
    )

    # --- selection: what is managed (compose services and plain containers) ------------
    label_selector: str = Field(
        "",
        validation_alias=_env("HEALER_LABEL_SELECTOR"),
        description="Manage only containers carrying this label: `key=value` or a bare `key`, "
        "several joined by commas must all match; compose services and plain `docker run` "
        "containers alike. Empty: every compose project (and plain containers with "
        "autoheal=true).",
    )
    autoheal_container_label: str = Field(
        "",
        validation_alias=AliasChoices("AUTOHEAL_CONTAINER_LABEL"),
        description="docker-autoheal's selector: a label name that must be `true`, or `all` "
        "for every container; HEALER_LABEL_SELECTOR wins when both are set.",
    )
    start_period: float = Field(
        0,
        ge=0,
        validation_alias=_env("HEALER_START_PERIOD", "AUTOHEAL_START_PERIOD"),
        description="`healer run` waits this long before it starts watching (docker-autoheal's "
        "AUTOHEAL_START_PERIOD).",
    )
    webhook_url: str | None = Field(
        None,
        validation_alias=AliasChoices("HEALER_WEBHOOK_URL", "WEBHOOK_URL"),
        description="docker-autoheal's webhook: a JSON POST {WEBHOOK_JSON_KEY: text} after each "
        "repair that acted or failed.",
    )
    webhook_json_key: str = Field(
        "text", validation_alias=AliasChoices("HEALER_WEBHOOK_JSON_KEY", "WEBHOOK_JSON_KEY")
    )

    # --- detection ---------------------------------------------------------------------
    watchdog_interval: float = Field(
        30,
        gt=0,
        validation_alias=_env("WATCHDOG_INTERVAL", "AUTOHEAL_INTERVAL"),
        description="Seconds between reconcile probes; events make most repairs faster.",
    )
    restarting_grace: float = Field(
        60,
        ge=0,
        validation_alias=_env("HEALER_RESTARTING_GRACE"),
        description="Seconds a container may sit in `restarting` before it counts as stuck.",
    )
    crashloop_restarts: int = Field(
        5,
        ge=2,
        validation_alias=_env("HEALER_CRASHLOOP_RESTARTS"),
        description="Engine restarts (die events) within the crash-loop window that mean stuck.",
    )
    crashloop_window: float = Field(
        300,
        gt=0,
        validation_alias=_env("HEALER_CRASHLOOP_WINDOW"),
        description="Seconds over which engine-driven restarts are counted.",
    )
    respect_manual_stop: bool = Field(
        False,
        validation_alias=_env("HEALER_RESPECT_MANUAL_STOP"),
        description="Keep a service stopped with `docker stop`/`compose stop` down.",
    )

    # --- restart policy ----------------------------------------------------------------
    max_restart_attempts: int = Field(3, ge=1, validation_alias=_env("MAX_RESTART_ATTEMPTS"))
    restart_cooldown: float = Field(300, ge=0, validation_alias=_env("RESTART_COOLDOWN"))
    reset_after: float = Field(
        600,
        ge=0,
        validation_alias=_env("HEALER_RESET_AFTER"),
        description="Seconds of good health that end an episode and lift a quarantine.",
    )
    backoff_max: float = Field(
        3600,
        ge=0,
        validation_alias=_env("HEALER_BACKOFF_MAX"),
        description="Cap on the doubled wait between repairs of one episode (kubelet-style).",
    )
    quarantine_ttl: float = Field(
        7 * 86400,
        gt=0,
        validation_alias=_env("HEALER_QUARANTINE_TTL"),
        description="Safety TTL on episode state; every probe of a failing service refreshes it.",
    )

    # --- acting ------------------------------------------------------------------------
    lock_ttl: float = Field(
        120,
        gt=0,
        validation_alias=_env("HEALER_LOCK_TTL"),
        description="Seconds a repair lock lives if its worker dies; longer than any repair.",
    )
    stop_timeout: int | None = Field(
        None,
        ge=0,
        validation_alias=_env("HEALER_STOP_TIMEOUT", "AUTOHEAL_DEFAULT_STOP_TIMEOUT"),
        description="SIGTERM grace for restart/stop; unset uses the container's stop_grace_period.",
    )
    verify_timeout: float = Field(
        30,
        gt=0,
        validation_alias=_env("HEALER_VERIFY_TIMEOUT"),
        description="Seconds to wait for a repaired container to be running again.",
    )
    plugin_timeout: float | None = Field(
        None,
        gt=0,
        validation_alias=_env("HEALER_PLUGIN_TIMEOUT"),
        description="Seconds a plugin strategy may run before it is killed and the repair "
        "recorded as failed; below HEALER_LOCK_TTL so the lock outlives it. Unset: half "
        "the lock TTL (60 s by default).",
    )
    post_repair_webhook: str | None = Field(
        None,
        validation_alias=_env("HEALER_POST_REPAIR_WEBHOOK"),
        description="URL that gets a JSON POST with the outcome of every repair that acted, "
        "failed or quarantined (docker-autoheal's post-restart script, as a webhook).",
    )
    repair_concurrency: int = Field(
        128,
        ge=1,
        validation_alias=_env("HEALER_REPAIR_CONCURRENCY"),
        description="Most repairs acting on the engine at once across all workers: the cap "
        "of the adaptive limit (or the fixed limit with HEALER_REPAIR_ADAPTIVE=false).",
    )
    repair_adaptive: bool = Field(
        True,
        validation_alias=_env("HEALER_REPAIR_ADAPTIVE"),
        description="Follow the engine's latency (AIMD, starting at the cap) so a mass "
        "failure gets the engine's parallel speed without overloading it; false: always the "
        "cap.",
    )

    # --- ordered recovery after an engine restart ----------------------------------------
    boot_recovery: bool = Field(
        True,
        validation_alias=_env("HEALER_BOOT_RECOVERY"),
        description="After an engine restart, bring every managed project back in the order "
        "its depends_on declares.",
    )
    boot_timeout: float = Field(
        300,
        gt=0,
        validation_alias=_env("HEALER_BOOT_TIMEOUT"),
        description="Seconds a service waits for its dependencies' conditions during a "
        "recovery (label healer.boot.timeout overrides it); compose's own wait has no limit, "
        "five minutes covers a database replaying its journal.",
    )
    boot_deadline: float = Field(
        900,
        gt=0,
        validation_alias=_env("HEALER_BOOT_DEADLINE"),
        description="Seconds one recovery may take in all before it stops and hands the "
        "project back to the reconcile; longer than a chain of timeouts would need.",
    )
    boot_poll_interval: float = Field(
        0.5,
        gt=0,
        le=10,
        validation_alias=_env("HEALER_BOOT_POLL_INTERVAL"),
        description="Seconds between two observations of a recovering project: a healthcheck "
        "runs every few seconds at best, so half a second adds little delay and few calls.",
    )

    # --- resources and disk (docs/architecture.md, "What it does") ----------------------
    resource_monitoring: bool = Field(
        True,
        validation_alias=_env("HEALER_RESOURCE_MONITORING"),
        description="Sample CPU, memory and network counters on every reconcile probe.",
    )
    cgroup_root: Path = Field(
        Path("/sys/fs/cgroup"),
        validation_alias=_env("HEALER_CGROUP_ROOT"),
        description="The host's cgroup tree (read-only mount in a container); else stats API.",
    )
    proc_root: Path = Field(
        Path("/proc"),
        validation_alias=_env("HEALER_PROC_ROOT"),
        description="The host's /proc, for container network counters.",
    )
    memory_threshold: float = Field(
        0.9, gt=0, le=1, validation_alias=_env("HEALER_MEMORY_THRESHOLD")
    )
    memory_window: float = Field(
        300,
        gt=0,
        validation_alias=_env("HEALER_MEMORY_WINDOW"),
        description="Seconds memory must stay above its threshold before a restart.",
    )
    cpu_threshold: float = Field(0.9, gt=0, le=1, validation_alias=_env("HEALER_CPU_THRESHOLD"))
    cpu_window: float = Field(
        600,
        gt=0,
        validation_alias=_env("HEALER_CPU_WINDOW"),
        description="Seconds CPU must stay above its threshold before a restart.",
    )
    network_error_rate: float = Field(
        10,
        gt=0,
        validation_alias=_env("HEALER_NETWORK_ERROR_RATE"),
        description="rx/tx errors + drops per second that count as a broken link.",
    )
    network_window: float = Field(120, gt=0, validation_alias=_env("HEALER_NETWORK_WINDOW"))
    disk_threshold: float = Field(
        0.9,
        gt=0,
        le=1,
        validation_alias=_env("HEALER_DISK_THRESHOLD"),
        description="Used ratio of the Docker data root (or HEALER_DISK_PATH) that triggers "
        "cleanup.",
    )
    disk_path: Path | None = Field(
        None,
        validation_alias=_env("HEALER_DISK_PATH"),
        description="Watch this path instead of the engine's data root.",
    )
    disk_interval: float = Field(300, gt=0, validation_alias=_env("HEALER_DISK_INTERVAL"))
    cleanup_log_dirs: str = Field(
        "",
        validation_alias=_env("HEALER_CLEANUP_LOG_DIRS"),
        description="Comma list of folders whose *.log files older than the max age go.",
    )
    cleanup_max_age_days: float = Field(
        7, gt=0, validation_alias=_env("HEALER_CLEANUP_MAX_AGE_DAYS")
    )
    cleanup_min_age: float = Field(
        3600,
        ge=0,
        validation_alias=_env("HEALER_CLEANUP_MIN_AGE"),
        description="Seconds a loose (non-compose) container must have been stopped before "
        "cleanup removes it: an hour leaves time to read its logs after a crash.",
    )

    # --- scaling -----------------------------------------------------------------------
    scaler_interval: float = Field(60, gt=0, validation_alias=_env("SCALER_INTERVAL"))
    min_replicas: int = Field(1, ge=0, validation_alias=_env("MIN_REPLICAS"))
    max_replicas: int = Field(5, ge=1, validation_alias=_env("MAX_REPLICAS"))
    max_replicas_cap: int = Field(
        20,
        ge=1,
        validation_alias=_env("HEALER_MAX_REPLICAS_CAP"),
        description="Hard ceiling on any service's replicas: no label, alert or `--force` "
        "goes past it, so a typo (healer.scale.max=500) cannot exhaust the host.",
    )
    scale_drain_timeout: float = Field(
        120,
        gt=0,
        validation_alias=_env("HEALER_SCALE_DRAIN_TIMEOUT"),
        description="Seconds a Celery worker replica gets to finish its tasks after it stops "
        "consuming, before it is stopped anyway (unacked tasks are redelivered).",
    )
    scale_start_timeout: float = Field(
        60,
        gt=0,
        validation_alias=_env("HEALER_SCALE_START_TIMEOUT"),
        description="Seconds a new replica gets to be running (and healthy, with a healthcheck).",
    )
    prometheus_url: str | None = Field(
        None,
        validation_alias=_env("HEALER_PROMETHEUS_URL"),
        description="Prometheus the `prometheus` scale metric queries (e.g. "
        "http://prometheus:9090); unset, that metric holds the replica count.",
    )
    prometheus_token: SecretStr | None = Field(
        None,
        validation_alias=_env("HEALER_PROMETHEUS_TOKEN"),
        description="Bearer token sent to HEALER_PROMETHEUS_URL (wins over user/password).",
    )
    prometheus_user: str | None = Field(None, validation_alias=_env("HEALER_PROMETHEUS_USER"))
    prometheus_password: SecretStr | None = Field(
        None,
        validation_alias=_env("HEALER_PROMETHEUS_PASSWORD"),
        description="Basic auth password for HEALER_PROMETHEUS_USER.",
    )
    prometheus_timeout: float = Field(
        5,
        gt=0,
        validation_alias=_env("HEALER_PROMETHEUS_TIMEOUT"),
        description="Seconds one scale query may take; a slower one holds the replica count.",
    )

    # --- repair-storm brake (unhealthy repairs only) -----------------------------------------
    storm_share: float = Field(
        0.55,
        gt=0,
        le=1,
        validation_alias=_env("HEALER_STORM_SHARE"),
        description="Share of a host's managed services seen unhealthy within the storm "
        "window that engages the brake (Kubernetes' --unhealthy-zone-threshold is 0.55).",
    )
    storm_window: float = Field(
        120,
        gt=0,
        validation_alias=_env("HEALER_STORM_WINDOW"),
        description="Seconds over which unhealthy services are counted: a few reconciles, so "
        "a service still unhealthy is counted on every pass.",
    )
    storm_min_services: int = Field(
        4,
        ge=1,
        validation_alias=_env("HEALER_STORM_MIN_SERVICES"),
        description="Fewest unhealthy services that can engage the brake: one sick service "
        "out of two is an incident, not a storm.",
    )
    storm_interval: float = Field(
        30,
        gt=0,
        validation_alias=_env("HEALER_STORM_INTERVAL"),
        description="While braked, at most one unhealthy-repair per this many seconds per "
        "host (the trickle); exited and crashed containers are still started at once.",
    )

    storm_cpu_pressure: float = Field(
        50,
        gt=0,
        le=100,
        validation_alias=_env("HEALER_STORM_CPU_PRESSURE"),
        description="Host CPU pressure (PSI cpu some avg10, %) at which a storm of unhealthy "
        "services is taken for overload and braked.",
    )
    storm_io_pressure: float = Field(
        30,
        gt=0,
        le=100,
        validation_alias=_env("HEALER_STORM_IO_PRESSURE"),
        description="Host IO pressure (PSI io full avg10, %) at which a storm of unhealthy "
        "services is taken for overload and braked.",
    )
    storm_slow_factor: float = Field(
        3.0,
        gt=1,
        validation_alias=_env("HEALER_STORM_SLOW_FACTOR"),
        description="Engine time per repair action, as a multiple of its best, at which a "
        "storm of unhealthy services is taken for overload and braked.",
    )

    # --- API, history, notifications -----------------------------------------------------
    api_token: SecretStr | None = Field(None, validation_alias=_env("HEALER_API_TOKEN"))
    alerts_token: SecretStr | None = Field(
        None,
        validation_alias=_env("HEALER_ALERTS_TOKEN"),
        description="The only token POST /alerts accepts (Alertmanager's); unset: /alerts is "
        "off (403).",
    )
    metrics_token: SecretStr | None = Field(
        None,
        validation_alias=_env("HEALER_METRICS_TOKEN"),
        description="A token that reads GET /metrics only (Prometheus'); HEALER_API_TOKEN "
        "reads it too.",
    )
    api_allowed_hosts: str = Field(
        "localhost,127.0.0.1,::1,healer-api",
        validation_alias=_env("HEALER_API_ALLOWED_HOSTS"),
        description="Comma list of Host header values the API answers (DNS-rebinding "
        "guard); `*` answers any.",
    )
    api_host: str = Field("127.0.0.1", validation_alias=_env("HEALER_API_HOST"))
    api_port: int = Field(8000, ge=1, le=65535, validation_alias=_env("HEALER_API_PORT"))
    log_dir: Path = Field(Path("logs"), validation_alias=_env("HEALER_LOG_DIR"))
    history_maxlen: int = Field(
        100_000,
        ge=100,
        validation_alias=_env("HEALER_HISTORY_MAXLEN"),
        description="Entries kept in the history stream (approximate trim, O(1)).",
    )
    history_retention: float = Field(
        7 * 86400,
        gt=0,
        validation_alias=_env("HEALER_HISTORY_RETENTION"),
        description="Seconds of history kept; older entries are trimmed by beat.",
    )
    notify_webhook: str | None = Field(None, validation_alias=_env("HEALER_NOTIFY_WEBHOOK"))
    # --- outbound webhooks and Apprise (healer.adapters.outbound) ----------------------------
    webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("HEALER_WEBHOOK_SECRET"),
        description="Key of the HMAC-SHA256 signature of every outbound webhook body "
        "(X-Healer-Signature: sha256=<hex> over `<X-Healer-Timestamp>.<body>`); unset: unsigned.",
    )
    webhook_token: SecretStr | None = Field(
        None,
        validation_alias=_env("HEALER_WEBHOOK_TOKEN"),
        description="Sent as `Authorization: Bearer <token>` with every outbound webhook.",
    )
    webhook_headers: dict[str, str] = Field(
        default_factory=dict,
        validation_alias=_env("HEALER_WEBHOOK_HEADERS"),
        description='Extra headers of every outbound webhook, as a JSON object: {"X-Team": "ops"}.',
    )
    webhook_retries: int = Field(
        3,
        ge=0,
        le=10,
        validation_alias=_env("HEALER_WEBHOOK_RETRIES"),
        description="Retries of a failed webhook delivery (with jittered exponential backoff), "
        "off the repair path.",
    )
    webhook_timeout: float = Field(
        5.0,
        gt=0,
        le=60,
        validation_alias=_env("HEALER_WEBHOOK_TIMEOUT"),
        description="Seconds one webhook delivery attempt may take.",
    )
    apprise_urls: str = Field(
        "",
        validation_alias=_env("HEALER_APPRISE_URLS"),
        description="Apprise URLs (space or comma separated) that also get every notification: "
        "Discord, Telegram, e-mail, ntfy and 100+ more. Needs `pip install "
        "compose-healer[apprise]`.",
    )
    oplog: Path | None = Field(
        None,
        validation_alias=_env("HEALER_OPLOG"),
        description="File that gets a JSON line when each repair starts and ends acting, "
        "for offline checks of the guard (the soak test); unset writes nothing.",
    )
    alert_rate: int = Field(
        30,
        ge=1,
        validation_alias=_env("HEALER_ALERT_RATE"),
        description="Alert actions queued per minute across all services; more are skipped "
        "(rate_limited).",
    )
    alert_suppress: float = Field(
        900,
        ge=0,
        validation_alias=_env("HEALER_ALERT_SUPPRESS"),
        description="Seconds an alert that triggered a repair cannot trigger it again: longer "
        "than Prometheus' lookback, so a still-firing alert is not acted on twice.",
    )

    # --- celery ------------------------------------------------------------------------
    worker_pool: Literal["threads", "prefork"] = Field(
        "threads",
        validation_alias=_env("HEALER_WORKER_POOL"),
        description="Celery pool. Repairs and probes wait on Docker and Redis, so threads "
        "serve them in one process (no time limits: every engine call has its own timeout); "
        "prefork forks one process per slot and enforces HEALER_TASK_TIME_LIMIT by killing it.",
    )
    worker_concurrency: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("HEALER_WORKER_CONCURRENCY"),
        description="Tasks one worker runs at once; unset: 128 threads, or one process per "
        "CPU with prefork. Threads are cheap, and a hung Docker call then holds one of many.",
    )
    docker_timeout: float = Field(
        60,
        gt=0,
        validation_alias=_env("HEALER_DOCKER_TIMEOUT"),
        description="Seconds any Docker API call may take (plus the stop grace of a stop or "
        "restart) before it fails; bounds a repair on a hung engine, as the threads pool has "
        "no task time limit.",
    )
    task_time_limit: float = Field(
        300,
        gt=0,
        validation_alias=_env("HEALER_TASK_TIME_LIMIT"),
        description="Hard limit per task (prefork pool only: threads cannot be killed); must "
        "stay below the broker visibility timeout.",
    )
    visibility_timeout: float = Field(
        3600,
        gt=0,
        validation_alias=_env("HEALER_VISIBILITY_TIMEOUT"),
        description="Seconds before Redis redelivers an unacked task (late acks).",
    )

    @field_validator(*SECONDS_FIELDS, mode="before")
    @classmethod
    def _seconds(cls, v: object, info: ValidationInfo) -> object:
        try:
            return parse_seconds(v)
        except ValueError as exc:
            raise ValueError(f"{_var(info.field_name)}: {exc}") from None

    @field_validator("env_file")
    @classmethod
    def _env_file_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"{ENV_FILE_VAR}={v}: no such file")
        return v

    @field_validator("label_selector")
    @classmethod
    def _selector_form(cls, v: str) -> str:
        try:
            parse_selector(v)
        except SelectorError as exc:
            raise ValueError(f"HEALER_LABEL_SELECTOR={v!r}: {exc}") from None
        return v.strip()

    @field_validator("autoheal_container_label")
    @classmethod
    def _autoheal_label_form(cls, v: str) -> str:
        try:
            from_autoheal(v)
        except SelectorError as exc:
            raise ValueError(f"AUTOHEAL_CONTAINER_LABEL={v!r}: {exc}") from None
        return v.strip()

    @field_validator("host")
    @classmethod
    def _host_name(cls, v: str) -> str:
        return validate_host(v or socket.gethostname())

    @field_validator("projects", "cleanup_log_dirs", "beat_hosts")
    @classmethod
    def _strip_list(cls, v: str) -> str:
        return ",".join(p.strip() for p in v.split(",") if p.strip())

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        return validate_redis_url(v)

    @field_validator("visibility_timeout")
    @classmethod
    def _visibility_above_limit(cls, v: float, info: object) -> float:
        limit = getattr(info, "data", {}).get("task_time_limit", 300)
        if v <= limit:
            raise ValueError(
                f"HEALER_VISIBILITY_TIMEOUT ({v}) must exceed HEALER_TASK_TIME_LIMIT ({limit}) "
                "or Redis would redeliver tasks that are still running"
            )
        return v

    @field_validator("api_token", "alerts_token", "metrics_token")
    @classmethod
    def _token_length(cls, v: SecretStr | None) -> SecretStr | None:
        # An empty value means "unset" (mutating calls answer 403); a short one is guessable.
        if v is None or not v.get_secret_value():
            return None
        if len(v.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"a HEALER_*_TOKEN must be at least {MIN_TOKEN_LENGTH} characters "
                "(e.g. `openssl rand -hex 32`)"
            )
        return v

    @model_validator(mode="after")
    def _plugin_below_lock(self) -> Settings:
        if self.plugin_timeout is not None and self.plugin_timeout >= self.lock_ttl:
            raise ValueError(
                f"HEALER_PLUGIN_TIMEOUT ({self.plugin_timeout}) must be below HEALER_LOCK_TTL "
                f"({self.lock_ttl}): a repair lock must outlive the plugin it guards"
            )
        return self

    @model_validator(mode="after")
    def _replica_bounds(self) -> Settings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"MIN_REPLICAS ({self.min_replicas}) must not exceed MAX_REPLICAS "
                f"({self.max_replicas})"
            )
        if self.max_replicas > self.max_replicas_cap:
            raise ValueError(
                f"MAX_REPLICAS ({self.max_replicas}) must not exceed HEALER_MAX_REPLICAS_CAP "
                f"({self.max_replicas_cap})"
            )
        return self

    @property
    def host_id(self) -> HostId:
        return HostId(self.host)

    @property
    def host_down_after(self) -> float:
        return down_after(self.heartbeat_interval)

    @property
    def beat_host_patterns(self) -> tuple[str, ...]:
        return tuple(p for p in self.beat_hosts.split(",") if p)

    @property
    def strategy_time_limit(self) -> float:
        """Seconds a plugin strategy may run (HEALER_PLUGIN_TIMEOUT or half the lock TTL)."""
        return self.plugin_timeout if self.plugin_timeout is not None else self.lock_ttl / 2

    @property
    def concurrency(self) -> int:
        """Tasks one worker runs at once (HEALER_WORKER_CONCURRENCY or the pool's default)."""
        if self.worker_concurrency is not None:
            return self.worker_concurrency
        return THREADS_DEFAULT if self.worker_pool == "threads" else os.cpu_count() or 1

    @property
    def wait_replicas(self) -> int:
        """HEALER_REDIS_WAIT_REPLICAS, or its default: 1 with Sentinel, 0 without."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_url.startswith("sentinel://") else 0

    @property
    def redis_url_redacted(self) -> str:
        return redact_url(self.redis_url)

    @property
    def selector(self) -> Selector:
        """What is managed: HEALER_LABEL_SELECTOR, else AUTOHEAL_CONTAINER_LABEL, else the
        default (every compose project, plus plain containers labelled autoheal=true)."""
        if self.label_selector:
            return parse_selector(self.label_selector)
        return from_autoheal(self.autoheal_container_label)

    @property
    def project_list(self) -> tuple[str, ...]:
        return tuple(p for p in self.projects.split(",") if p)

    @property
    def log_dir_list(self) -> tuple[str, ...]:
        return tuple(p for p in self.cleanup_log_dirs.split(",") if p)

    def condition_defaults(self, condition: Condition) -> tuple[float, int]:
        """(cooldown seconds, max attempts) before labels override them (docs/architecture.md)."""
        seed = (self.restart_cooldown, self.max_restart_attempts)
        table: dict[Condition, tuple[float, int]] = {
            Condition.MEMORY: (600, 2),
            Condition.CPU: (600, 2),
            Condition.NETWORK: (300, 3),
            Condition.DISK: (3600, 1),
        }
        return table.get(condition, seed)


def _var(field_name: str | None) -> str:
    """The variables an operator may set for a field, for error messages."""
    info = Settings.model_fields.get(field_name or "")
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices) and alias.choices:
        return " or ".join(str(c) for c in alias.choices)
    return field_name or "?"
