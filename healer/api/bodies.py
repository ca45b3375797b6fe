"""Request bodies and query values of the HTTP API, checked into clear 4xx answers.

Kept apart from the routes so every rule is testable without a server: a bad value is a 4xx
that names it, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healer.core.duration.parse import parse_duration
from healer.core.model import Action

# {"action": "...", "reason": "..."} is tiny; 64 KiB is generous and bounds what a caller
# with the token can make the API buffer.
MAX_REPAIR_BODY = 64 * 1024

# History lives at most HEALER_HISTORY_RETENTION (7 days by default); ten years back is
# "everything" and keeps the millisecond stream ids finite.
MAX_HISTORY_WINDOW = 10 * 365 * 86400.0


# An action name: a built-in, `signal:<NAME>` or an installed plugin's entry point name. Its
# spelling is checked here; whether such an action exists, by the route
# (engine/repair/actions.check).
ACTION_NAME = r"^[A-Za-z0-9_.:-]{1,200}$"


class RepairBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(Action.RESTART.value, pattern=ACTION_NAME)
    reason: str = Field("", max_length=500)


# The schema FastAPI would derive from a `RepairBody` parameter, written out because the body
# is read by hand (after the token check) and so is not a parameter.
REPAIR_BODY_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "action": {
                            "type": "string",
                            "pattern": ACTION_NAME,
                            "default": "restart",
                            "description": "any action `healer strategies` lists",
                        },
                        "reason": {"type": "string", "maxLength": 500, "default": ""},
                    },
                }
            }
        },
    }
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` inlined, to embed in an OpenAPI operation
    (`#/$defs/...` would resolve against the OpenAPI document, not the schema)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def json_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` documenting a body the route reads by hand (after the token check)."""
    content = {"application/json": {"schema": inline_schema(model)}}
    return {"requestBody": {"required": required, "content": content}}


def load_json(raw: bytes) -> Any:
    """Decoded JSON, or a 422 naming what is wrong (bad UTF-8, syntax, absurd nesting)."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(422, f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise HTTPException(422, "body is nested too deeply to be a request") from exc


def parse_repair_body(raw: bytes) -> RepairBody:
    """An empty body means the defaults (restart)."""
    if not raw.strip():
        return RepairBody()
    data = load_json(raw)
    if not isinstance(data, dict):
        raise HTTPException(422, 'body must be a JSON object like {"action": "restart"}')
    try:
        return RepairBody.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        raise HTTPException(422, {"error": "bad repair body", "problems": problems}) from exc
    except RecursionError as exc:
        raise HTTPException(422, "body is nested too deeply to be a request") from exc


def history_window(since: str) -> float:
    """`since` as seconds back from now: a duration between 0 and ten years, else 422."""
    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        raise HTTPException(422, f"since={since!r}: {exc} (use e.g. 30m, 24h, 7d)") from exc
    if not 0 <= seconds <= MAX_HISTORY_WINDOW:
        raise HTTPException(
            422, f"since={since!r}: must be between 0 and {MAX_HISTORY_WINDOW:.0f} seconds"
        )
    return seconds
