"""What the proxy reads from the engine to decide: inspects, straight on the socket."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from healer.core.compose_labels import PROJECT_LABEL, SERVICE_LABEL

# Enough references to find one the create matches; a service has a handful of replicas.
_MAX_REFERENCES = 16


class EngineReader:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        resp = await self.client.get(path, params=params)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()

    async def container(self, ref: str) -> dict[str, Any] | None:
        found = await self._get(f"/containers/{quote(ref, safe='')}/json")
        return found if isinstance(found, dict) else None

    async def image(self, ref: str) -> dict[str, Any] | None:
        found = await self._get(f"/images/{quote(ref, safe=':@/')}/json")
        return found if isinstance(found, dict) else None

    async def service(self, project: str, service: str) -> list[dict[str, Any]]:
        """Inspects of the service's containers, lowest container number first."""
        filters = {"label": [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}"]}
        entries = await self._get("/containers/json", {"all": "1", "filters": json.dumps(filters)})
        out = []
        for entry in (entries or [])[:_MAX_REFERENCES]:
            info = await self.container(str(entry.get("Id", "")))
            if info is not None:
                out.append(info)
        return sorted(out, key=_number)


def _number(info: dict[str, Any]) -> int:
    labels = (info.get("Config") or {}).get("Labels") or {}
    try:
        return int(labels.get("com.docker.compose.container-number", 0))
    except ValueError:
        return 0


def labels_of(info: dict[str, Any] | None) -> dict[str, str]:
    return dict(((info or {}).get("Config") or {}).get("Labels") or {})
