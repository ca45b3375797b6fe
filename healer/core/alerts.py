"""Alertmanager webhook (v4) bodies and what the healer decides about each alert.

Pure: parsing and deciding only. The API (healer.api.alerts) applies the decision — dedupe,
suppression, service lookup and enqueueing need Redis and Docker, so they live there.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from healer.core.actions import UnknownAction, normalize
from healer.core.model import Action

# The alert rules label disk alerts with this pseudo-service: the cleanup is host-wide.
HOST = "host"

# Label value that hands an alert to the healer; anything else is for humans only.
AUTO_REPAIR_LABEL = "auto_repair"


# What an alert's `action` label may ask for (monitoring/README.md) besides the repair
# actions (healer.core.actions: built-ins, signal:<NAME>, installed plugin strategies).
TASK_ACTIONS = (Action.CLEANUP, Action.SCALE_UP, Action.SCALE_DOWN)
# The replica count an alert's scale task is sent with: relative to what runs when it executes.
ALERT_ONE_MORE = -1
ALERT_ONE_FEWER = -2

# Used when an auto_repair alert has no `action` label; mirrors the shipped rules so an
# operator's own rule with a familiar name does the expected thing.
DEFAULT_ACTIONS: dict[str, Action] = {
    "ContainerUnhealthy": Action.RESTART,
    "ContainerDown": Action.START,
    "ContainerRestarting": Action.STOP_START,
    "HighMemoryUsage": Action.RESTART,
    "HighCPUUsage": Action.RESTART,
    "NetworkErrors": Action.RESTART,
    "HighErrorRate": Action.RESTART,
    "DiskSpaceLow": Action.CLEANUP,
    "CeleryQueueBacklog": Action.SCALE_UP,
}


# Bounds of one alert's fields: Prometheus' own labels are far smaller; a sender that sends
# more is broken or hostile, and every byte of them ends in Redis and the log.
MAX_LABELS = 64
MAX_LABEL_NAME = 128
MAX_LABEL_VALUE = 1024
MAX_ANNOTATION = 2048


class IgnoreReason(enum.StrEnum):
    RESOLVED = "resolved"
    NOT_AUTO_REPAIR = "not_auto_repair"
    NO_SERVICE = "no_service"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_TARGET = "invalid_target"


def _check_timestamp(value: str) -> str:
    # Kept as the original string: it is part of the dedupe key, and re-formatting a parsed
    # datetime could turn one Alertmanager timestamp into two keys.
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from exc
    return value


class Alert(BaseModel):
    """One alert of a webhook body. Unknown fields are ignored for forward compatibility."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = Field("", max_length=128)

    @field_validator("labels")
    @classmethod
    def _labels_bounded(cls, v: dict[str, str]) -> dict[str, str]:
        # Labels decide what is done: an oversized one is refused, not cut (422).
        if len(v) > MAX_LABELS:
            raise ValueError(f"{len(v)} labels; at most {MAX_LABELS}")
        for key, value in v.items():
            if len(key) > MAX_LABEL_NAME or len(value) > MAX_LABEL_VALUE:
                raise ValueError(
                    f"label {key[:40]!r} longer than {MAX_LABEL_NAME} (name) or "
                    f"{MAX_LABEL_VALUE} (value) characters"
                )
        return v

    @field_validator("annotations")
    @classmethod
    def _annotations_bounded(cls, v: dict[str, str]) -> dict[str, str]:
        # Annotations only describe: kept, cut to size, so a long runbook text is no error.
        kept = list(v.items())[:MAX_LABELS]
        return {k[:MAX_LABEL_NAME]: text[:MAX_ANNOTATION] for k, text in kept}

    @field_validator("startsAt")
    @classmethod
    def _starts_at(cls, v: str) -> str:
        return _check_timestamp(v)

    @field_validator("endsAt")
    @classmethod
    def _ends_at(cls, v: str) -> str:
        return _check_timestamp(v) if v else v

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def key_fingerprint(self) -> str:
        """Alertmanager's fingerprint, or (hand-sent bodies) a stable hash of the labels."""
        if self.fingerprint:
            return self.fingerprint
        text = "\x00".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def dedupe_key(self) -> str:
        """Same alert, same firing: Alertmanager re-sends it every repeat_interval."""
        return f"{self.key_fingerprint}:{self.startsAt}"


class Webhook(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: int = Field(0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert] = Field(min_length=1)


def parse_webhook(data: object) -> Webhook:
    """Validate a decoded JSON body; raises pydantic.ValidationError (→ HTTP 422)."""
    return Webhook.model_validate(data)


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem, e.g. "alerts.0.startsAt: not an RFC 3339 timestamp: 'x'"."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(f"{where}: {err['msg']}")
    return out


@dataclass(frozen=True)
class AlertDecision:
    """Act on `service` with `action`, or ignore the alert for `reason`."""

    alertname: str
    fingerprint: str
    starts_at: str
    service: str  # the `service` label as written ("web" or "project/web"), "" if none
    action: str | None  # an Action, `signal:<NAME>` or a plugin's name (healer.core.actions)
    act: bool
    reason: str = ""  # an IgnoreReason when not acting
    detail: str = ""  # alertname and summary, for the history
    host_labels: tuple[tuple[str, str], ...] = ()  # `host` / `instance`, to route the repair
    container: str = ""  # the `container` label: act on that container only

    @property
    def repair_action(self) -> str | None:
        """The repair task's action; None for cleanup and scaling (tasks of their own)."""
        return None if self.action in (None, *TASK_ACTIONS) else self.action


def decide(alert: Alert, plugins: Collection[str] = ()) -> AlertDecision:
    """What the labels ask for, before any lookup: resolved alerts and alerts for humans
    never act; an `action` label wins over the alertname's default. `plugins` are the
    installed strategies' names, accepted like the built-in repair actions."""
    action, problem = _action(alert, plugins)
    service = alert.labels.get("service", "").strip()
    reason, why = _ignore_reason(alert, service, action, problem)
    summary = alert.annotations.get("summary", "")
    detail = f"{alert.alertname or 'alert'}: {summary}" if summary else alert.alertname
    return AlertDecision(
        alertname=alert.alertname,
        fingerprint=alert.key_fingerprint,
        starts_at=alert.startsAt,
        service=service,
        action=action,
        act=reason is None,
        reason=reason.value if reason else "",
        detail=f"{detail} ({why})" if why else detail,
        host_labels=tuple((k, alert.labels[k]) for k in ("host", "instance") if k in alert.labels),
        container=alert.labels.get("container", "").strip(),
    )


def _ignore_reason(
    alert: Alert, service: str, action: str | None, problem: str
) -> tuple[IgnoreReason | None, str]:
    if alert.status == "resolved":
        return IgnoreReason.RESOLVED, ""
    if alert.labels.get(AUTO_REPAIR_LABEL, "").strip().lower() != "true":
        return IgnoreReason.NOT_AUTO_REPAIR, f"{AUTO_REPAIR_LABEL} is not 'true'"
    if not service:
        return IgnoreReason.NO_SERVICE, "the alert has no `service` label"
    if action is None:
        return IgnoreReason.UNKNOWN_ACTION, problem
    target_problem = _target_problem(service, action)
    if target_problem:
        return IgnoreReason.INVALID_TARGET, target_problem
    return None, ""


def _action(alert: Alert, plugins: Collection[str]) -> tuple[str | None, str]:
    label = alert.labels.get("action", "").strip()
    if label:
        # An explicit but unknown action is a typo to surface, not a cue to guess.
        if label in TASK_ACTIONS:
            return Action(label), ""
        try:
            return normalize(label, plugins), ""
        except UnknownAction as exc:
            return None, f"{exc}, " + ", ".join(TASK_ACTIONS)
    default = DEFAULT_ACTIONS.get(alert.alertname)
    if default is None:
        return None, f"no `action` label and no default action for {alert.alertname!r}"
    return default, ""


def _target_problem(service: str, action: str) -> str:
    if action == Action.CLEANUP and service != HOST:
        return f"cleanup is host-wide: label the alert service={HOST!r}"
    if service == HOST and action != Action.CLEANUP:
        return f"service {HOST!r} only supports action cleanup"
    return ""
