"""Credit pricing: what an operation will debit, derived from the provider's cost.

One credit is $0.01. ``credits_required = max(minimum, ceil(cost x markup / 0.01))``
per output image; an unknown cost reserves a configured hold instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from image_skill.providers.base import Model

CREDIT_UNIT_USD = 0.01


def usd_text(value: float) -> str:
    """Dollars with cents, and more digits when cents would hide them ($0.001, not $0.00)."""
    if abs(value - round(value, 2)) < 1e-9:
        return f"${value:.2f}"
    return "$" + f"{value:.6f}".rstrip("0")


@dataclass(frozen=True)
class PricingPolicy:
    """Operator-tunable pricing knobs."""

    markup: float = 2.0
    minimum_credits_per_image: int = 1
    unknown_cost_hold_credits: int = 25


@dataclass(frozen=True)
class PriceEstimate:
    """The priced plan of one operation."""

    outputs: int
    provider_usd_per_image: float | None
    credits_required: int
    confidence: str

    @property
    def estimated_provider_cost_usd(self) -> float | None:
        """Total provider cost, if known."""
        if self.provider_usd_per_image is None:
            return None
        return round(self.provider_usd_per_image * self.outputs, 6)

    @property
    def price_usd(self) -> float:
        """What the operation costs in credits, in USD: the one price budgets
        (``max_usd``, ``max_estimated_usd_per_image``) and their refusals use."""
        return round(self.credits_required * CREDIT_UNIT_USD, 6)

    def view(self) -> dict[str, Any]:
        """The ``cost`` object of responses (``estimated_usd`` is the provider's own cost,
        kept for 0.1.0 clients; ``price_usd`` is what the credits charged are worth)."""
        return {
            "estimated_usd": self.estimated_provider_cost_usd,
            "estimated_usd_per_image": self.provider_usd_per_image,
            "price_usd": self.price_usd,
            "price_usd_per_image": round(self.price_usd / max(self.outputs, 1), 6),
            "price_basis": "credits_required x credit_unit_usd",
            "budget_basis": "price_usd",
            "outputs": self.outputs,
            "credit_pricing": {
                "credit_unit_usd": CREDIT_UNIT_USD,
                "credits_required": self.credits_required,
                "estimated_provider_cost_usd": self.estimated_provider_cost_usd,
                "estimated_revenue_usd": round(self.credits_required * CREDIT_UNIT_USD, 2),
                "pricing_confidence": self.confidence,
            },
        }


def estimate_price(
    model: Model, parameters: dict[str, Any], policy: PricingPolicy
) -> PriceEstimate:
    """Price one call of ``model`` with ``parameters``."""
    outputs = model.output_count(parameters)
    per_image = model.estimate_usd_per_image(parameters)
    if per_image is None or model.pricing_confidence == "unknown":
        return PriceEstimate(
            outputs, per_image, policy.unknown_cost_hold_credits * outputs, "unknown"
        )
    per_image_credits = max(
        policy.minimum_credits_per_image,
        math.ceil(round(per_image * policy.markup / CREDIT_UNIT_USD, 6)),
    )
    return PriceEstimate(outputs, per_image, per_image_credits * outputs, model.pricing_confidence)
