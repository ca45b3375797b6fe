"""The HMAC signature of an outbound webhook, as a receiver checks it.

`X-Healer-Timestamp: <unix seconds>` and `X-Healer-Signature: sha256=<hex>`, the HMAC-SHA256
with HEALER_WEBHOOK_SECRET of `<timestamp>.<body bytes>`. The timestamp is signed so a
receiver can refuse a replayed delivery (older than, say, five minutes).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE = "X-Healer-Signature"
TIMESTAMP = "X-Healer-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, timestamp: str, body: bytes) -> dict[str, str]:
    return {TIMESTAMP: timestamp, SIGNATURE: signature(secret, timestamp, body)}


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver runs (header names case-insensitive): True when the signature holds."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get(TIMESTAMP.lower(), "")
    given = lower.get(SIGNATURE.lower(), "")
    return bool(timestamp) and hmac.compare_digest(given, signature(secret, timestamp, body))
