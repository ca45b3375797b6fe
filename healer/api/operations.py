"""Pause, resume, reset and scale over HTTP: the CLI's operations, with a token and a reason.

Each answers with the request record's id and a `Location` header pointing at it
(`GET /requests/{request_id}`); pause, resume and reset are done when they answer (200), a
scale is queued on its host's worker (202). Bodies are read after the token check, like
/repair's.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from healer.api import deps
from healer.api.alerts import read_capped
from healer.api.bodies import MAX_REPAIR_BODY, json_body, load_json
from healer.core.model import Source
from healer.engine.context import Healer
from healer.engine.operations import control

HealerDep = Annotated[Healer, Depends(deps.healer)]
M = TypeVar("M", bound=BaseModel)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500, description="why, kept in the history")


class ScaleBody(ReasonBody):
    replicas: int = Field(ge=0, description="replicas to run")
    force: bool = Field(
        False,
        description="refused (403): a scale past min/max is `healer scale --force` on a healer"
        " host only",
    )


def parse(model: type[M], raw: bytes) -> M:
    """The body as `model`; empty means its defaults; else a 422 naming each bad field."""
    data = load_json(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise HTTPException(422, "body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        raise HTTPException(422, {"error": "bad request body", "problems": problems}) from exc


def located(response: Response, body: dict[str, Any]) -> dict[str, Any]:
    response.headers["Location"] = f"/requests/{body['request_id']}"
    return body


async def _reason(request: Request) -> str:
    return parse(ReasonBody, await read_capped(request, MAX_REPAIR_BODY)).reason


FORCE_REFUSED = (
    "force is not accepted over HTTP: scale within the service's min/max, or run "
    "`healer scale SERVICE N --force` on a healer host"
)
operations = APIRouter(dependencies=[Depends(deps.authorized)])
by = deps.caller  # which token asked, recorded with each operation
REASON_DOC = json_body(ReasonBody, required=False)


@operations.post("/pause", openapi_extra=REASON_DOC)
async def pause_all(h: HealerDep, request: Request, response: Response) -> dict[str, Any]:
    """Stop acting on every service (still observed and reported)."""
    reason = await _reason(request)
    return located(
        response, await run_in_threadpool(control.pause, h, None, reason, Source.API, by(request))
    )


@operations.post("/resume", openapi_extra=REASON_DOC)
async def resume_all(h: HealerDep, request: Request, response: Response) -> dict[str, Any]:
    """Undo `POST /pause`."""
    reason = await _reason(request)
    out = await run_in_threadpool(control.resume, h, None, reason, Source.API, by(request))
    return located(response, out)


@operations.post("/pause/{service:path}", openapi_extra=REASON_DOC)
async def pause(h: HealerDep, service: str, request: Request, response: Response) -> dict[str, Any]:
    """Stop acting on SERVICE (`service`, `project/service` or `host/project/service`)."""
    reason = await _reason(request)
    ref = await run_in_threadpool(deps.service_ref, h, service)
    return located(
        response, await run_in_threadpool(control.pause, h, ref, reason, Source.API, by(request))
    )


@operations.post("/resume/{service:path}", openapi_extra=REASON_DOC)
async def resume(
    h: HealerDep, service: str, request: Request, response: Response
) -> dict[str, Any]:
    """Undo a pause of SERVICE and probe it at once."""
    reason = await _reason(request)
    ref = await run_in_threadpool(deps.service_ref, h, service)
    return located(
        response, await run_in_threadpool(control.resume, h, ref, reason, Source.API, by(request))
    )


@operations.post("/reset/{service:path}", openapi_extra=REASON_DOC)
async def reset(h: HealerDep, service: str, request: Request, response: Response) -> dict[str, Any]:
    """End SERVICE's episodes: attempts to zero, quarantine lifted."""
    reason = await _reason(request)
    ref = await run_in_threadpool(deps.service_ref, h, service)
    return located(
        response, await run_in_threadpool(control.reset, h, ref, reason, Source.API, by(request))
    )


@operations.post("/scale/{service:path}", status_code=202, openapi_extra=json_body(ScaleBody))
async def scale(h: HealerDep, service: str, request: Request, response: Response) -> dict[str, Any]:
    """Scale SERVICE to `replicas` on its host's worker; poll the Location for the outcome."""
    body = parse(ScaleBody, await read_capped(request, MAX_REPAIR_BODY))
    if body.force:
        # Whoever holds the API token scales within min/max only; the worker would refuse
        # the force anyway (no grant: the API's Redis user cannot write one).
        raise HTTPException(403, FORCE_REFUSED)
    ref = await run_in_threadpool(deps.service_ref, h, service)
    out = await run_in_threadpool(
        control.request_scale,
        h,
        ref,
        body.replicas,
        body.force,
        body.reason,
        Source.API,
        by(request),
    )
    return located(response, out)
