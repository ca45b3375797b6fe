"""Quarantines and failed repairs to a Slack-compatible webhook, besides the log.

Delivery is best effort with a short timeout: a dead chat server must never stall a repair.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("healer.notify")


def redacted(url: str) -> str:
    """`https://hooks.slack.com/…`: a webhook URL's path and query are its credential (Slack,
    Teams, Discord all put the secret there), so a log names the host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def _why(exc: httpx.HTTPError) -> str:
    """What went wrong without the URL httpx puts into its messages."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


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
            log.error("notification webhook %s failed: %s", redacted(self.url), _why(exc))
            return False


def post_outcome(url: str, payload: dict[str, object], timeout: float = 5.0) -> bool:
    """The post-repair hook: the outcome as JSON to `url`, best effort like notifications."""
    try:
        httpx.post(url, json=payload, timeout=timeout).raise_for_status()
        return True
    except httpx.HTTPError as exc:
        log.error("post-repair webhook %s failed: %s", redacted(url), _why(exc))
        return False
