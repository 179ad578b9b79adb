"""``POST /v1/create``, ``/v1/edit`` and ``/v1/upload``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from image_skill.providers.base import Operation
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative.admission_gate import Admission, AdmissionPlace
from image_skill.service.creative.plan import CreativeRequest
from image_skill.service.creative.schemas import (
    AcceptedData,
    CompletedData,
    CreateRequest,
    DryRunData,
    EditRequest,
    UploadData,
    UploadRequest,
)
from image_skill.service.creative.service import run_creative
from image_skill.service.creative.upload import upload
from image_skill.service.deps import CurrentPrincipal
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.identity.principal import Principal
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response, trace_id_of
from image_skill.service.runtime import Runtime

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404))
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
# RFC 7240: "Prefer: respond-async" answers 202 with the queued job at once.
Prefer = Annotated[str | None, Header(alias="Prefer", max_length=200)]
# A finished job is 201 (also replayed by its key), a dry run 200, a job still running 202.
_CREATIVE_ANSWERS = answers(CompletedData, status=201, others={200: DryRunData, 202: AcceptedData})


@router.post("/v1/create", name="image-skill create", **_CREATIVE_ANSWERS)
async def create(
    body: CreateRequest,
    request: Request,
    principal: CurrentPrincipal,
    admission: Admission,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> JSONResponse:
    """Create an image, or plan one with ``dry_run``."""
    return await _creative("create", body, request, principal, admission, idempotency_key, prefer)


@router.post("/v1/edit", name="image-skill edit", **_CREATIVE_ANSWERS)
async def edit(
    body: EditRequest,
    request: Request,
    principal: CurrentPrincipal,
    admission: Admission,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> JSONResponse:
    """Edit an owned asset into a new one."""
    return await _creative("edit", body, request, principal, admission, idempotency_key, prefer)


async def _creative(
    operation: Operation,
    body: CreativeRequest,
    request: Request,
    principal: Principal,
    place: AdmissionPlace,
    idempotency_key: str | None,
    prefer: str | None,
) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    respond_async = _prefers_async(prefer)
    outcome = await run_creative(
        runtime,
        principal,
        operation,
        body,
        idempotency_key=idempotency_key,
        trace_id=trace_id_of(request),
        urls=AssetUrls(runtime.settings, runtime.store, str(request.base_url)),
        place=place,
        respond_async=respond_async,
    )
    response = envelope_response(
        request, outcome.data, status_code=outcome.status_code, warnings=outcome.warnings
    )
    if respond_async and outcome.status_code == 202:
        response.headers["Preference-Applied"] = "respond-async"
    return response


def _prefers_async(prefer: str | None) -> bool:
    """Whether the ``Prefer`` header asks for ``respond-async`` (among other preferences)."""
    if not prefer:
        return False
    return any(part.split(";")[0].strip().lower() == "respond-async" for part in prefer.split(","))


@router.post("/v1/upload", name="image-skill upload", **answers(UploadData, status=201))
async def upload_route(
    body: UploadRequest, request: Request, principal: CurrentPrincipal, admission: Admission
) -> JSONResponse:
    """Turn client-normalized bytes into an owned input asset."""
    runtime: Runtime = request.app.state.runtime
    urls = AssetUrls(runtime.settings, runtime.store, str(request.base_url))
    data = await upload(runtime, principal, body, trace_id_of(request), urls, admission)
    warnings = data.pop("_warnings")
    return envelope_response(request, data, status_code=201, warnings=warnings)
