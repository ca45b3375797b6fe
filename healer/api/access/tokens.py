"""The API's tokens and what each may do.

- HEALER_API_TOKEN (`api`): the operator's; every route but /alerts.
- HEALER_ALERTS_TOKEN (`alerts`): Alertmanager's; POST /alerts and nothing else.
- HEALER_METRICS_TOKEN (`metrics`): Prometheus'; GET /metrics and nothing else.
/healthz, /livez and /readyz need none (healthchecks and load balancers), nor /docs and
/openapi.json (the API's description, no cluster data).

A request is recorded with the name of its token and a short fingerprint (the first 8 hex
digits of its SHA-256), so two generations of a rotated token can be told apart in the
history without the token itself ever being written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pydantic import SecretStr

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
# The API's own description (healer.api.apidocs): no cluster data in it.
DOC_PATHS = frozenset({"/docs", "/openapi.json"})
DOC_PREFIX = "/docs-assets/"


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path in DOC_PATHS or path.startswith(DOC_PREFIX)


ALERTS_PATH = "/alerts"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Token:
    name: str
    secret: str

    @property
    def caller(self) -> str:
        """`api:1a2b3c4d`: what the history and request records say made a request."""
        return f"{self.name}:{hashlib.sha256(self.secret.encode()).hexdigest()[:8]}"


def configured(**tokens: SecretStr | None) -> tuple[Token, ...]:
    return tuple(Token(n, t.get_secret_value()) for n, t in tokens.items() if t is not None)


def bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def matching(tokens: tuple[Token, ...], presented: str) -> Token | None:
    """The configured token equal to `presented` (constant-time per candidate)."""
    found = None
    for t in tokens:
        if presented and hmac.compare_digest(presented.encode(), t.secret.encode()):
            found = t
    return found


def may_use(token: Token, method: str, path: str) -> bool:
    """Each token reaches its own routes only."""
    if path == ALERTS_PATH:
        return token.name == "alerts"
    if token.name == "metrics":
        return method in ("GET", "HEAD") and path == METRICS_PATH
    return token.name == "api"
