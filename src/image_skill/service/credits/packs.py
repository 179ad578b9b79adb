"""The public credit pack catalog. One credit is one US cent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CURRENCY = "USD"
MIN_CUSTOM_CREDITS = 1
MAX_CUSTOM_CREDITS = 5000


@dataclass(frozen=True)
class Pack:
    """A named, recommended amount of credits."""

    pack_id: str
    name: str
    credits: int
    summary: str

    @property
    def amount_cents(self) -> int:
        """Price: one cent per credit."""
        return self.credits

    def view(self) -> dict[str, Any]:
        """Public form."""
        return {
            "pack_id": self.pack_id,
            "name": self.name,
            "credits": self.credits,
            "amount_cents": self.amount_cents,
            "amount_usd": round(self.amount_cents / 100, 2),
            "currency": CURRENCY,
            "summary": self.summary,
        }


PACKS = {
    pack.pack_id: pack
    for pack in (
        Pack("starter-500", "Starter", 500, "First top-up: a few hundred previews."),
        Pack("builder-2000", "Builder", 2000, "Regular agent workloads."),
        Pack("studio-5000", "Studio", 5000, "Sustained production use."),
    )
}
DEFAULT_PACK_ID = "starter-500"


def catalog() -> dict[str, Any]:
    """``GET /v1/credit-packs`` data."""
    return {
        "credit_unit_cents": 1,
        "credit_unit_usd": 0.01,
        "currency": CURRENCY,
        "default_pack_id": DEFAULT_PACK_ID,
        "packs": [pack.view() for pack in PACKS.values()],
        "custom_quotes": {
            "supported": True,
            "min_credits": MIN_CUSTOM_CREDITS,
            "max_credits": MAX_CUSTOM_CREDITS,
        },
        "payment_methods": ["fake", "stripe_checkout"],
    }
