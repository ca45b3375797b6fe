"""Quarantines and failed repairs to a Slack-compatible webhook and to Apprise's targets,
and the post-repair hook's JSON, besides the log.

Nothing here runs on the repair path: `send` and `post_outcome` hand the message to the
delivery thread (healer.adapters.outbound.delivery) and return at once; every webhook
carries the configured headers and token and is signed when HEALER_WEBHOOK_SECRET is set.
"""

from __future__ import annotations

import logging
from typing import Any

from healer.adapters.outbound.apprise_target import Send, apprise_sender
from healer.adapters.outbound.delivery import Courier, WebhookAuth, post_json, redacted

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
    def __init__(
        self,
        webhook_url: str | None,
        timeout: float = 5.0,
        *,
        auth: WebhookAuth | None = None,
        apprise: Send | None = None,
        retries: int = 3,
    ) -> None:
        self.url = webhook_url
        self.timeout = timeout
        self.auth = auth or WebhookAuth()
        self.apprise = apprise
        self.courier = Courier(retries)

    @classmethod
    def from_settings(cls, s: Any) -> Notifier:
        secret = s.webhook_secret.get_secret_value() if s.webhook_secret else ""
        token = s.webhook_token.get_secret_value() if s.webhook_token else ""
        return cls(
            s.notify_webhook,
            s.webhook_timeout,
            auth=WebhookAuth(secret, token, dict(s.webhook_headers)),
            apprise=apprise_sender(s.apprise_urls),
            retries=s.webhook_retries,
        )

    def send(self, severity: str, title: str, text: str, fields: dict[str, str]) -> bool:
        """Log it, and queue it for the webhook and Apprise; True when anything was queued."""
        level = logging.CRITICAL if severity == "critical" else logging.WARNING
        log.log(level, "%s: %s %s", title, text, fields)
        queued = False
        if self.url:
            url, payload = self.url, slack_payload(severity, title, text, fields)
            queued |= self.courier.submit(
                "notification webhook",
                lambda: post_json(url, payload, self.auth, self.timeout),
            )
        if self.apprise:
            body = text + "".join(f"\n{k}: {v}" for k, v in fields.items())
            send = self.apprise
            queued |= self.courier.submit("Apprise", lambda: send(severity, title, body))
        return queued

    def post_outcome(self, url: str, payload: dict[str, Any]) -> bool:
        """The post-repair hook: the outcome as JSON to `url`, queued like notifications."""
        return self.courier.submit(
            f"post-repair webhook {redacted(url)}",
            lambda: post_json(url, payload, self.auth, self.timeout),
        )
