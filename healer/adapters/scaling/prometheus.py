"""The `prometheus` scale metric: one PromQL query against HEALER_PROMETHEUS_URL, reduced to
one number. Anything else (an error, no sample, several series, NaN) is a `QueryError`
whose message says why; the scaler then holds the replica count."""

from __future__ import annotations

import math
import threading
from typing import Any

import httpx

from healer.settings import Settings

_clients: dict[tuple[object, ...], Prometheus] = {}
_lock = threading.Lock()


class QueryError(Exception):
    """The query gave no usable number; the message is what history shows."""


class Prometheus:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = httpx.BasicAuth(user, password or "") if user and not token else None
        self.url = url.rstrip("/")
        self.client = httpx.Client(headers=headers, auth=auth, timeout=timeout)

    @classmethod
    def from_settings(cls, s: Settings) -> Prometheus | None:
        """The process's client for these settings (one per process: it keeps its
        connections), or None without HEALER_PROMETHEUS_URL."""
        if not s.prometheus_url:
            return None
        token = s.prometheus_token.get_secret_value() if s.prometheus_token else None
        password = s.prometheus_password.get_secret_value() if s.prometheus_password else None
        key = (s.prometheus_url, token, s.prometheus_user, password, s.prometheus_timeout)
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = cls(
                    s.prometheus_url,
                    token=token,
                    user=s.prometheus_user,
                    password=password,
                    timeout=s.prometheus_timeout,
                )
                _clients[key] = client
            return client

    def value(self, query: str) -> float:
        try:
            resp = self.client.get(f"{self.url}/api/v1/query", params={"query": query})
        except httpx.HTTPError as exc:
            raise QueryError(f"prometheus unreachable: {exc}") from exc
        body = _json(resp)
        if resp.status_code != 200 or body.get("status") != "success":
            why = body.get("error") or resp.reason_phrase
            raise QueryError(f"prometheus answered {resp.status_code}: {why}")
        return one_number(body.get("data") or {})


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def one_number(data: dict[str, Any]) -> float:
    """The single number of a query result (scalar, or a vector of exactly one sample)."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        sample = result
    elif kind == "vector" and isinstance(result, list):
        if not result:
            raise QueryError("query returned no sample (empty vector)")
        if len(result) > 1:
            raise QueryError(f"query returned {len(result)} series; aggregate it (sum, max)")
        sample = result[0].get("value") or []
    else:
        raise QueryError(f"query returned a {kind}, not a scalar or one-sample vector")
    try:
        number = float(sample[1])
    except (IndexError, TypeError, ValueError) as exc:
        raise QueryError(f"query sample {sample!r} is not a number") from exc
    if not math.isfinite(number):
        raise QueryError(f"query returned {number} (not a finite number)")
    return number
