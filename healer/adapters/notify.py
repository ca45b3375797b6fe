"""Quarantines and failed repairs to a Slack-compatible webhook, besides the log.

Delivery is best effort with a short timeout: a dead chat server must never stall a repair.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger("healer.notify")

_ICON = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


def slack_payload(
    severity: str, title: str, text: str, fields: dict[str, str]
) -> dict[str, object]:
    """Slack's incoming-webhook JSON; Mattermost, Rocket.Chat and Teams' Slack mode read it too."""
    return {
        "text": f"{_ICON.get(severity, '')} [{severity.upper()}] {title}: {text}",
        "attachments": [
            {
                "color": {"critical": "danger", "warning": "warning"}.get(severity, "good"),
                "title": title,
                "text": text,
                "fields": [{"title": k, "value": v, "short": True} for k, v in fields.items()],
            }
        ],
    }


class Notifier:
    def __init__(self, webhook_url: str | None, timeout: float = 5.0) -> None:
        self.url = webhook_url
        self.timeout = timeout

    def send(self, severity: str, title: str, text: str, fields: dict[str, str]) -> bool:
        level = logging.CRITICAL if severity == "critical" else logging.WARNING
        log.log(level, "%s: %s %s", title, text, fields)
        if not self.url:
            return False
        try:
            resp = httpx.post(
                self.url, json=slack_payload(severity, title, text, fields), timeout=self.timeout
            )
            resp.raise_for_status()
            return True
        except httpx.HTTPError as exc:
            log.error("notification webhook failed: %s", exc)
            return False


def post_outcome(url: str, payload: dict[str, object], timeout: float = 5.0) -> bool:
    """The post-repair hook: the outcome as JSON to `url`, best effort like notifications."""
    try:
        httpx.post(url, json=payload, timeout=timeout).raise_for_status()
        return True
    except httpx.HTTPError as exc:
        log.error("post-repair webhook %s failed: %s", url, exc)
        return False
