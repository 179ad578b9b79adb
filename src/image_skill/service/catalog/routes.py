"""``/v1/models`` and ``/v1/capabilities``: public, no auth."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.contract.errors import not_found
from image_skill.providers.base import Operation
from image_skill.service.catalog import defaults
from image_skill.service.catalog.schemas import (
    CAPABILITIES,
    CapabilityList,
    CapabilityShown,
    ModelList,
    ModelShown,
    capability_view,
    model_detail,
    model_summary,
)
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response
from image_skill.service.runtime import Runtime

router = APIRouter(route_class=GuardedRoute, responses=error_responses(404))


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/v1/models", name="image-skill models list", **answers(ModelList))
async def list_models(request: Request) -> JSONResponse:
    """Every model with availability and price."""
    rt = _runtime(request)
    models = [
        model_summary(m, rt.pricing) for m in sorted(rt.models.values(), key=lambda m: m.model_id)
    ]
    operations: tuple[Operation, ...] = ("create", "edit")
    chosen = {op: defaults.choose(rt.models, rt.settings, op) for op in operations}
    data = {
        "models": models,
        "defaults": {op: choice.model_id for op, choice in chosen.items()},
        "default_reason": {op: choice.view() for op, choice in chosen.items()},
    }
    return envelope_response(request, data)


@router.get("/v1/models/{model_id:path}", name="image-skill models show", **answers(ModelShown))
async def show_model(model_id: str, request: Request) -> JSONResponse:
    """One model's full capability-preserving description."""
    rt = _runtime(request)
    model = rt.model(model_id)
    return envelope_response(request, {"model": model_detail(model, rt.pricing)})


@router.get("/v1/capabilities", name="image-skill capabilities list", **answers(CapabilityList))
async def list_capabilities(request: Request) -> JSONResponse:
    """The capability catalog."""
    rt = _runtime(request)
    models = list(rt.models.values())
    data = {"capabilities": [capability_view(cid, models, rt.pricing) for cid in CAPABILITIES]}
    return envelope_response(request, data)


@router.get(
    "/v1/capabilities/{capability_id}",
    name="image-skill capabilities show",
    **answers(CapabilityShown),
)
async def show_capability(capability_id: str, request: Request) -> JSONResponse:
    """One capability."""
    if capability_id not in CAPABILITIES:
        raise not_found(
            "No such capability.", suggested_command="image-skill capabilities list --json"
        )
    rt = _runtime(request)
    data = {"capability": capability_view(capability_id, list(rt.models.values()), rt.pricing)}
    return envelope_response(request, data)
