"""``POST /v1/create``, ``/v1/edit`` and ``/v1/upload``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from image_skill.providers.base import Operation
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative.admission_gate import Admission, AdmissionPlace
from image_skill.service.creative.plan import CreativeRequest
from image_skill.service.creative.responses import with_stand_in_notice
from image_skill.service.creative.schemas import (
    AcceptedData,
    CompletedData,
    CreateRequest,
    DryRunData,
    EditRequest,
    UploadData,
)
from image_skill.service.creative.service import run_creative
from image_skill.service.creative.upload import upload
from image_skill.service.creative.upload_body import UPLOAD_BODY_SPEC, read_upload
from image_skill.service.deps import CurrentPrincipal, MediaUrls
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.identity.principal import Principal
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response, outcome_response, trace_id_of
from image_skill.service.runtime import Runtime

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404))
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
# RFC 7240: "Prefer: respond-async" answers 202 with the queued job at once.
Prefer = Annotated[str | None, Header(alias="Prefer", max_length=200)]
# A finished job is 201 (also replayed by its key), a dry run 200, a job still running 202.
_CREATIVE_ANSWERS = answers(CompletedData, status=201, others={200: DryRunData, 202: AcceptedData})


@dataclass(frozen=True)
class CreativeCall:
    """What create and edit take besides their body: the caller, its place, its headers."""

    request: Request
    principal: Principal
    place: AdmissionPlace
    urls: AssetUrls
    idempotency_key: str | None
    prefer: str | None


async def creative_call(
    request: Request,
    principal: CurrentPrincipal,
    admission: Admission,
    urls: MediaUrls,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> CreativeCall:
    """The request context of a create or edit call."""
    return CreativeCall(request, principal, admission, urls, idempotency_key, prefer)


Call = Annotated[CreativeCall, Depends(creative_call)]


@router.post("/v1/create", name="image-skill create", **_CREATIVE_ANSWERS)
async def create(body: CreateRequest, call: Call) -> JSONResponse:
    """Create an image, or plan one with ``dry_run``."""
    return await _creative("create", body, call)


@router.post("/v1/edit", name="image-skill edit", **_CREATIVE_ANSWERS)
async def edit(body: EditRequest, call: Call) -> JSONResponse:
    """Edit an owned asset into a new one."""
    return await _creative("edit", body, call)


async def _creative(
    operation: Operation, body: CreativeRequest, call: CreativeCall
) -> JSONResponse:
    request = call.request
    respond_async = _prefers_async(call.prefer)
    outcome = await run_creative(
        request.app.state.runtime,
        call.principal,
        operation,
        body,
        idempotency_key=call.idempotency_key,
        trace_id=trace_id_of(request),
        urls=call.urls,
        place=call.place,
        respond_async=respond_async,
    )
    outcome = with_stand_in_notice(outcome, request.app.state.runtime.models, operation)
    response = outcome_response(request, outcome)
    if respond_async and outcome.status_code == 202:
        response.headers["Preference-Applied"] = "respond-async"
    return response


def _prefers_async(prefer: str | None) -> bool:
    """Whether the ``Prefer`` header asks for ``respond-async`` (among other preferences)."""
    if not prefer:
        return False
    return any(part.split(";")[0].strip().lower() == "respond-async" for part in prefer.split(","))


# The body (an UploadRequest) is read by the route itself to bound its memory
# (upload_body.py); UPLOAD_BODY_SPEC documents it as a body parameter would.
@router.post(
    "/v1/upload",
    name="image-skill upload",
    openapi_extra=UPLOAD_BODY_SPEC,
    **answers(UploadData, status=201),
)
async def upload_route(
    request: Request,
    principal: CurrentPrincipal,
    admission: Admission,
    urls: MediaUrls,
) -> JSONResponse:
    """Turn client-normalized bytes into an owned input asset."""
    runtime: Runtime = request.app.state.runtime
    body = await read_upload(request)
    data = await upload(runtime, principal, body, trace_id_of(request), urls, admission)
    warnings = data.pop("_warnings")
    return envelope_response(request, data, status_code=201, warnings=warnings)
