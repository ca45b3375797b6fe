"""Notifications through Apprise (the optional extra `compose-healer[apprise]`): one URL per
target, 100+ services (Discord, Telegram, ntfy, e-mail, Teams...), each in its own format."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

log = logging.getLogger("healer.notify")

Send = Callable[[str, str, str], None]  # (severity, title, body); raises when it failed


def split_urls(text: str) -> list[str]:
    return [u for u in re.split(r"[\s,]+", text.strip()) if u]


def apprise_sender(urls: str) -> Send | None:
    """A sender for HEALER_APPRISE_URLS, or None when unset or Apprise is not installed
    (said once, in the log: the webhook and the log still get every notification)."""
    targets = split_urls(urls)
    if not targets:
        return None
    try:
        import apprise
    except ImportError:
        log.error(
            "HEALER_APPRISE_URLS is set but Apprise is not installed: "
            "pip install 'compose-healer[apprise]'"
        )
        return None
    client = apprise.Apprise()
    for url in targets:
        if not client.add(url):
            # An Apprise URL carries its target's credentials: name its scheme only.
            scheme = url.partition("://")[0]
            log.error(
                "HEALER_APPRISE_URLS: Apprise does not understand a %s:// URL; skipped", scheme
            )
    kinds = {
        "critical": apprise.NotifyType.FAILURE,
        "warning": apprise.NotifyType.WARNING,
        "info": apprise.NotifyType.INFO,
    }

    def send(severity: str, title: str, body: str) -> None:
        kind = kinds.get(severity, apprise.NotifyType.INFO)
        if not client.notify(title=title, body=body, notify_type=kind):
            raise RuntimeError("Apprise could not deliver to every target")

    return send
