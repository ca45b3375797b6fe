"""Schemathesis over the API's own OpenAPI schema, with and without the token: whatever the
input, no 5xx. The app is the real one (create_app) on the tests' Redis db and the host's
engine, managing no project, so a generated repair can only be a 404, never an action.

Examples per operation: HEALER_FUZZ_EXAMPLES (default 60, enough to hit every parameter's
edges; raise it for a longer hunt).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from healer.api.app import create_app
from healer.settings import Settings

TOKEN = "fuzz-token-0123456789abcdef"
EXAMPLES = int(os.environ.get("HEALER_FUZZ_EXAMPLES", "60"))


@pytest.fixture
def fuzz_app(redis_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    yield create_app(
        Settings(
            redis_url=redis_url,
            projects="chtest-fuzz-none",
            api_token=TOKEN,
            alerts_token="fuzz-alerts-token-0123456789",
            api_allowed_hosts="*",  # whatever Host the fuzzer's client sends
            log_dir=tmp_path,
        )
    )


@pytest.fixture
def api_schema(fuzz_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@schema.parametrize()
@SETTINGS
def test_no_5xx_without_the_token(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(checks=[not_a_server_error])


@schema.parametrize()
@SETTINGS
def test_no_5xx_with_the_token(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error]
    )
