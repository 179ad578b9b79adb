"""Step one of a create or edit: decide everything, spend nothing.

A plan is what the service would do for a request: which model, with which
validated parameters, at what price, in which ratio and format, from which
input asset. Checks run in a fixed order so an agent always learns the
cheapest thing to fix first: model -> model_parameters -> policy -> budget.
Planning writes nothing (it may read the input asset through the lookup it is
given), so a dry run is simply the plan rendered and the same plan is what
admission and execution act on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.providers.base import Availability, Model, Operation
from image_skill.service import idempotency, telemetry
from image_skill.service.catalog import defaults
from image_skill.service.catalog.parameters import validate_parameters
from image_skill.service.catalog.pricing import PriceEstimate, estimate_price
from image_skill.service.creative import budget
from image_skill.service.creative.schemas import CreateRequest, EditRequest
from image_skill.service.db.models import Asset
from image_skill.service.identity.principal import Principal
from image_skill.service.runtime import Runtime
from image_skill.service.webhooks.service import accept_job_webhook

CreativeRequest = CreateRequest | EditRequest
# Reads an input asset the caller owns: its row and its bytes (or raises).
InputLookup = Callable[[str], Awaitable[tuple[Asset, bytes]]]


@dataclass(frozen=True)
class Plan:
    """Everything decided about one request before anything is spent."""

    operation: Operation
    prompt: str
    model_id: str
    provider: str
    availability: Availability
    intent: str | None
    parameters: dict[str, Any]
    aspect_ratio: str
    output_format: str | None
    price: PriceEstimate
    budget_refusal: ImageSkillError | None
    max_estimated_usd_per_image: float | None
    max_usd: float | None
    input_asset: Asset | None
    input_bytes: bytes | None
    idempotency_key: str | None
    fingerprint: str
    dry_run: bool
    # Checked: the caller may use webhooks and the target is public (or allowed).
    webhook_url: str | None = None
    # Why this model: named by the request, or the default and why that default.
    choice: defaults.ModelChoice | None = None

    def raise_if_blocked(self) -> None:
        """Refuse to run a plan the budget or the model's configuration forbids."""
        if self.budget_refusal is not None:
            raise self.budget_refusal
        if not self.availability.configured:
            how_to_enable = self.availability.view()["how_to_enable"]
            raise ImageSkillError(
                ErrorCode.MODEL_NOT_CONFIGURED,
                f"{self.model_id} is not configured on this service"
                + (f": {how_to_enable}." if how_to_enable else "."),
                details={
                    "missing_env": list(self.availability.missing_env),
                    "how_to_enable": how_to_enable,
                },
                recovery={"suggested_command": f"image-skill models show {self.model_id} --json"},
            )


def fingerprint(runtime: Runtime, operation: Operation, body: CreativeRequest) -> str:
    """The keyed digest an idempotency key is bound to."""
    fields = body.model_dump(mode="json")
    if fields.get("webhook_url") is None:
        # A request without a webhook hashes as it did before the field existed.
        fields.pop("webhook_url", None)
    return idempotency.request_hash(operation, fields, runtime.settings.token_pepper)


async def make_plan(
    runtime: Runtime,
    operation: Operation,
    body: CreativeRequest,
    *,
    principal: Principal,
    idempotency_key: str | None,
    request_fingerprint: str,
    find_input: InputLookup,
) -> Plan:
    """Validate ``body`` against its model and price it (raises the first thing to fix)."""
    choice = (
        defaults.requested(body.model)
        if body.model
        else defaults.choose(runtime.models, runtime.settings, operation)
    )
    model = _model(runtime, operation, body, choice.model_id)
    params = validate_parameters(model, body.model_parameters)
    try:
        model.check_request(operation, body.prompt, params)
    except ImageSkillError as exc:
        raise defaults.point_at_generative(runtime.models, model, operation, exc) from None
    output_format = _output_format(model, body)
    aspect_ratio = _aspect_ratio(model, body)
    runtime.prompt_policy.check(body.prompt)
    webhook_url = await accept_job_webhook(runtime, principal, body.webhook_url)
    priced = estimate_price(model, params, runtime.pricing)
    telemetry.annotate(credits=priced.credits_required, dry_run=body.dry_run)
    budget_refusal = budget.budget_refusal(
        priced,
        body,
        models=runtime.models,
        operation=operation,
        model_id=model.model_id,
        policy=runtime.pricing,
    )
    input_asset, input_bytes = (
        await find_input(body.input_asset_id) if isinstance(body, EditRequest) else (None, None)
    )
    return Plan(
        operation=operation,
        prompt=body.prompt,
        model_id=model.model_id,
        provider=model.provider,
        availability=model.availability(),
        intent=body.intent,
        parameters=params,
        aspect_ratio=aspect_ratio,
        output_format=output_format,
        price=priced,
        budget_refusal=budget_refusal,
        max_estimated_usd_per_image=body.max_estimated_usd_per_image,
        max_usd=body.max_usd,
        input_asset=input_asset,
        input_bytes=input_bytes,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint,
        dry_run=body.dry_run,
        webhook_url=webhook_url,
        choice=choice,
    )


def _model(runtime: Runtime, operation: Operation, body: CreativeRequest, model_id: str) -> Model:
    model = runtime.model(model_id, field="model")
    if body.provider and body.provider != model.provider:
        raise invalid_arguments(
            f"Model {model.model_id} is served by provider '{model.provider}'.",
            field="provider",
        )
    if operation not in model.operations:
        raise invalid_arguments(
            f"Model {model.model_id} does not support {operation}; "
            f"it supports: {', '.join(model.operations)}.",
            field="model",
        )
    if body.intent and body.intent not in model.intents:
        raise invalid_arguments(
            f"Model {model.model_id} does not take intent '{body.intent}'.", field="intent"
        )
    return model


def _output_format(model: Model, body: CreativeRequest) -> str | None:
    fmt = body.output.format if body.output else None
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt is not None and fmt not in model.output_formats:
        raise invalid_arguments(
            f"Model {model.model_id} writes {', '.join(model.output_formats)}, not {fmt}.",
            field="output.format",
        )
    return fmt


def _aspect_ratio(model: Model, body: CreativeRequest) -> str:
    ratio = body.aspect_ratio.strip()
    if ratio in model.aspect_ratios or (ratio == "auto" and "auto" in model.aspect_ratios):
        return ratio
    if ratio == "auto" and isinstance(body, CreateRequest):
        return model.aspect_ratios[0]
    raise invalid_arguments(
        f"Model {model.model_id} supports aspect ratios: {', '.join(model.aspect_ratios)}.",
        field="aspect_ratio",
    )
