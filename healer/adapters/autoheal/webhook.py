"""docker-autoheal's WEBHOOK_URL: `{"<WEBHOOK_JSON_KEY>": "<one line>"}` after each repair that
acted or failed, so a Slack/Discord/Gotify hook set up for autoheal keeps working unchanged.

Delivered like every notification here, by the notifier's delivery thread (bounded retries,
the URL never logged whole): a dead hook never stalls a repair.
"""

from __future__ import annotations

import httpx


def target(sid: str, container_ids: list[str]) -> str:
    """`cache (0123456789ab)` for a plain container, `shop/web (…)` for a compose service."""
    name = sid.removeprefix("-/")
    ids = ", ".join(c[:12] for c in container_ids)
    return f"{name} ({ids})" if ids else name


def message(target: str, condition: str, action: str, success: bool) -> str:
    """autoheal's own wording for an unhealthy restart; the same shape for the rest."""
    found = f"Container {target} found to be {condition}."
    if action == "restart":
        done = "Successfully restarted the container!"
        failed = "Failed to restart the container!"
    else:
        done = f"Successfully repaired it ({action})!"
        failed = f"Failed to repair it ({action})!"
    return f"{found} {done if success else failed}"


def post(url: str, key: str, text: str, timeout: float = 5.0) -> None:
    """One delivery attempt; raises on a transport error or a non-2xx answer (retried)."""
    httpx.post(url, json={key: text}, timeout=timeout).raise_for_status()
