"""The budget guard of a create or edit: one price, exact figures, and ways on that work.

Budgets (``max_usd``, ``max_estimated_usd_per_image``) are compared with
``cost.price_usd``, the credits the call charges in USD, never with the
provider's own cost, so the figure a refusal quotes is the one the answer and
the ledger use. Amounts are printed with as many digits as they need ($0.001,
not $0.00). A refusal names the flag value that would pass and the models
configured here whose price fits the cap, or says that none does (so an agent
is never sent to look for a cheaper model that does not exist).
"""

from __future__ import annotations

from collections.abc import Mapping

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.providers.base import Model, Operation
from image_skill.service.catalog.parameters import validate_parameters
from image_skill.service.catalog.pricing import (
    CREDIT_UNIT_USD,
    PriceEstimate,
    PricingPolicy,
    estimate_price,
    usd_text,
)
from image_skill.service.creative.schemas import CreateRequest, EditRequest

# How many fitting models a refusal names.
NAMED_MODELS = 3


def budget_refusal(
    priced: PriceEstimate,
    body: CreateRequest | EditRequest,
    *,
    models: Mapping[str, Model],
    operation: Operation,
    model_id: str,
    policy: PricingPolicy,
) -> ImageSkillError | None:
    """Why ``priced`` is over the request's budget (None: within it)."""
    if priced.confidence == "unknown" and not body.accept_unknown_cost:
        return ImageSkillError(
            ErrorCode.BUDGET_REQUIRES_CONFIRMATION,
            "This model's price is not known in advance; confirm you accept an unknown cost.",
            recovery={"required_flag": "--accept-unknown-cost"},
        )
    per_image = round(priced.price_usd / max(priced.outputs, 1), 6)
    cap = body.max_estimated_usd_per_image
    if cap is not None and per_image > cap + 1e-9:
        fits = models_within(models, operation, model_id, policy, per_image_cap=cap)
        return _over(priced, "max_estimated_usd_per_image", per_image, cap, "per image", fits)
    if body.max_usd is not None and priced.price_usd > body.max_usd + 1e-9:
        fits = models_within(models, operation, model_id, policy, total_cap=body.max_usd)
        return _over(priced, "max_usd", priced.price_usd, body.max_usd, "in total", fits)
    return None


def models_within(
    models: Mapping[str, Model],
    operation: Operation,
    model_id: str,
    policy: PricingPolicy,
    *,
    per_image_cap: float | None = None,
    total_cap: float | None = None,
) -> list[str]:
    """Configured models of ``operation`` (not ``model_id``) whose known price, with
    their default parameters, fits the cap; cheapest first. A stand-in, which does not
    follow the prompt, is offered only in place of another stand-in."""
    asked = models.get(model_id)
    stand_ins_fit = asked is None or asked.stand_in
    fitting: list[tuple[float, str]] = []
    for model in models.values():
        if model.model_id == model_id or operation not in model.operations:
            continue
        if model.stand_in and not stand_ins_fit:
            continue
        if not model.availability().configured:
            continue
        price = estimate_price(model, validate_parameters(model, {}), policy)
        if price.confidence == "unknown":
            continue
        per_image = price.price_usd / max(price.outputs, 1)
        if per_image_cap is not None and per_image > per_image_cap + 1e-9:
            continue
        if total_cap is not None and price.price_usd > total_cap + 1e-9:
            continue
        fitting.append((price.price_usd, model.model_id))
    return [name for _price, name in sorted(fitting)]


def _over(
    priced: PriceEstimate, field: str, price: float, cap: float, scope: str, fits: list[str]
) -> ImageSkillError:
    """BUDGET_CAP_EXCEEDED quoting both figures exactly and the ways on that exist."""
    flag = "--" + field.replace("_", "-")
    credits = f"{priced.credits_required} credit" + ("" if priced.credits_required == 1 else "s")
    message = (
        f"This costs {usd_text(price)} {scope} ({credits} at {usd_text(CREDIT_UNIT_USD)}), "
        f"above {flag} {usd_text(cap)}. Raise {flag} to at least {price:g}"
    )
    recovery = {"required_flag": f"{flag} {price:g}"}
    if fits:
        named = ", ".join(fits[:NAMED_MODELS])
        message += f", or use a model within it: {named}."
        recovery["suggested_command"] = f"image-skill models show {fits[0]} --json"
    else:
        message += "; no model configured here costs less."
    return ImageSkillError(
        ErrorCode.BUDGET_CAP_EXCEEDED,
        message,
        recovery=recovery,
        details={
            "field": field,
            "price_usd": price,
            "cap_usd": cap,
            "price_basis": "price_usd",
            "models_within_budget": fits[:NAMED_MODELS],
        },
    )
