"""Public shapes of models and capabilities: the views that build them, then the models
that describe them for OpenAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from image_skill.providers.base import Model
from image_skill.service.catalog.pricing import PricingPolicy, estimate_price

CAPABILITIES: dict[str, dict[str, Any]] = {
    "is.image.generate.preview.v1": {
        "operation": "create",
        "summary": "Create images from a text prompt.",
        "endpoint": "POST /v1/create",
        "command": "image-skill create",
    },
    "is.image.edit.preview.v1": {
        "operation": "edit",
        "summary": "Edit an owned input image following a prompt.",
        "endpoint": "POST /v1/edit",
        "command": "image-skill edit",
    },
}
CAPABILITY_FOR_OPERATION = {spec["operation"]: cid for cid, spec in CAPABILITIES.items()}

NORMALIZED_CONTROLS: dict[str, dict[str, Any]] = {
    "prompt": {"type": "string", "required": True, "max_length": 4000},
    "intent": {"type": "string", "enum": ["explore", "draft", "finalize"]},
    "aspect_ratio": {"type": "string", "pattern": "W:H or auto"},
    "output.format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
    "max_estimated_usd_per_image": {"type": "number", "minimum": 0},
    "max_usd": {"type": "number", "minimum": 0},
    "accept_unknown_cost": {"type": "boolean"},
    "dry_run": {"type": "boolean"},
    "model_parameters": {"type": "object", "schema": "per model, see models show"},
}


def model_summary(model: Model, policy: PricingPolicy) -> dict[str, Any]:
    """The list form of a model."""
    priced = estimate_price(model, {}, policy)
    return {
        "model_id": model.model_id,
        "provider": model.provider,
        "display_name": model.display_name,
        "operations": list(model.operations),
        "capability_ids": [CAPABILITY_FOR_OPERATION[op] for op in model.operations],
        "availability": model.availability().view(),
        "latency_class": model.latency_class,
        "cost": priced.view(),
    }


def model_detail(model: Model, policy: PricingPolicy) -> dict[str, Any]:
    """Everything an agent needs to plan with a model."""
    detail = model_summary(model, policy)
    detail.update(
        {
            "description": model.description,
            "media": {"inputs": list(model.media_inputs), "outputs": list(model.media_outputs)},
            "normalized_controls": {
                "aspect_ratios": list(model.aspect_ratios),
                "output_formats": list(model.output_formats),
                "intents": list(model.intents),
            },
            "fixed_controls": model.fixed_controls,
            "model_parameters": {
                "schema": model.parameters_schema,
                "executable": model.executable_fields(),
                "planning_only": model.planning_only_fields(),
                "unknown_fields": "rejected",
            },
            "safety": model.safety,
            "migration_hints": list(model.migration_hints),
        }
    )
    return detail


def capability_view(
    capability_id: str, models: list[Model], policy: PricingPolicy
) -> dict[str, Any]:
    """A capability with its controls and the models that implement it."""
    spec = CAPABILITIES[capability_id]
    members = [m for m in models if spec["operation"] in m.operations]
    return {
        "capability_id": capability_id,
        "id": capability_id,
        **spec,
        "auth": {"required": True, "grants": [f"image.{spec['operation']}.preview"]},
        "normalized_controls": NORMALIZED_CONTROLS,
        "models": [
            {
                "model_id": m.model_id,
                "configured": m.availability().configured,
                "model_parameters_schema": m.parameters_schema,
            }
            for m in members
        ],
        "deprecations": [],
    }


class AvailabilityView(BaseModel):
    """Whether a model can run here, and what to set if not (names, never values)."""

    configured: bool
    missing_env: list[str]
    how_to_enable: str | None


class CreditPricing(BaseModel):
    """What an operation costs in credits (1 credit = $0.01)."""

    credit_unit_usd: float
    credits_required: int
    estimated_provider_cost_usd: float | None
    estimated_revenue_usd: float = Field(
        description="What the operation costs the caller: credits_required x credit_unit_usd "
        "(named for the service's side, as in 0.1.0)."
    )
    pricing_confidence: str = Field(examples=["known"])


class CostView(BaseModel):
    """The ``cost`` object of models, plans and jobs."""

    estimated_usd: float | None = Field(description="The provider's own cost (0.1.0).")
    estimated_usd_per_image: float | None
    price_usd: float = Field(
        description="What the operation costs in credits, in USD: the one price budgets "
        "(max_usd, max_estimated_usd_per_image) and their refusals use."
    )
    price_usd_per_image: float
    price_basis: Literal["credits_required x credit_unit_usd"]
    budget_basis: Literal["price_usd"]
    outputs: int
    credit_pricing: CreditPricing


class ModelSummary(BaseModel):
    """A model in ``GET /v1/models``."""

    model_id: str = Field(examples=["local.sketch"])
    provider: str
    display_name: str
    operations: list[str]
    capability_ids: list[str]
    availability: AvailabilityView
    latency_class: str
    cost: CostView


class ModelMedia(BaseModel):
    """Media types a model reads and writes."""

    inputs: list[str]
    outputs: list[str]


class ModelControls(BaseModel):
    """The normalized controls a model accepts."""

    aspect_ratios: list[str]
    output_formats: list[str]
    intents: list[str]


class ModelParameters(BaseModel):
    """A model's own parameters: a JSON Schema and which fields reach the provider."""

    parameters_schema: dict[str, Any] = Field(alias="schema")
    executable: list[str]
    planning_only: list[str]
    unknown_fields: Literal["rejected"]


class ModelDetail(ModelSummary):
    """Everything an agent needs to plan with a model (``GET /v1/models/{id}``)."""

    description: str
    media: ModelMedia
    normalized_controls: ModelControls
    fixed_controls: dict[str, Any]
    model_parameters: ModelParameters
    safety: dict[str, Any]
    migration_hints: list[str]


class ModelDefaults(BaseModel):
    """The model used when a request names none."""

    create: str
    edit: str


class ModelChoiceView(BaseModel):
    """Which model a request runs on and why (``default_reason``)."""

    model_id: str
    reason: Literal["requested", "setting", "best_configured", "stand_in_fallback"]
    message: str


class StandInNotice(BaseModel):
    """Said by every answer made (or planned) on a stand-in model."""

    code: Literal["STAND_IN_MODEL"]
    model_id: str
    message: str
    how_to_enable: str = Field(description="the one step that makes a real model the default")
    suggested_command: str


class DefaultReasons(BaseModel):
    """Why each default model is the default."""

    create: ModelChoiceView
    edit: ModelChoiceView


class ModelList(BaseModel):
    """``GET /v1/models``."""

    models: list[ModelSummary]
    defaults: ModelDefaults
    default_reason: DefaultReasons | None = None


class ModelShown(BaseModel):
    """``GET /v1/models/{model_id}``."""

    model: ModelDetail


class CapabilityAuth(BaseModel):
    """What calling a capability needs."""

    required: bool
    grants: list[str]


class CapabilityModel(BaseModel):
    """A model that implements a capability."""

    model_id: str
    configured: bool
    model_parameters_schema: dict[str, Any]


class CapabilityView(BaseModel):
    """A capability with its controls and the models that implement it."""

    capability_id: str = Field(examples=["is.image.generate.preview.v1"])
    id: str
    operation: str
    summary: str
    endpoint: str
    command: str
    auth: CapabilityAuth
    normalized_controls: dict[str, dict[str, Any]]
    models: list[CapabilityModel]
    deprecations: list[Any]


class CapabilityList(BaseModel):
    """``GET /v1/capabilities``."""

    capabilities: list[CapabilityView]


class CapabilityShown(BaseModel):
    """``GET /v1/capabilities/{capability_id}``."""

    capability: CapabilityView
