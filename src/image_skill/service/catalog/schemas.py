"""Public shapes of models and capabilities."""

from __future__ import annotations

from typing import Any

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
