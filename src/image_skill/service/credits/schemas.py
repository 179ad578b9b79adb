"""Request bodies of the credits routes: exactly the public fields, nothing else.

Numbers are strict: a JSON ``true`` or ``"500"`` is not a credit amount (lax
pydantic would read ``true`` as 1), and OpenAPI documents the real types.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from image_skill.service.credits.references import OUR_ID_MAX, QUOTE_ID_PATTERN


class QuoteRequest(BaseModel):
    """``POST /v1/credit-quotes``."""

    model_config = ConfigDict(extra="ignore")

    credits: StrictInt | None = None
    pack_id: str | None = Field(default=None, max_length=40)
    payment_method: str = Field(default="fake", max_length=40)
    idempotency_key: str | None = Field(default=None, max_length=200)


class PurchaseRequest(BaseModel):
    """``POST /v1/credit-purchases`` and ``/stripe-checkout-sessions``."""

    model_config = ConfigDict(extra="ignore")

    quote_id: str = Field(
        min_length=1,
        max_length=OUR_ID_MAX,
        pattern=QUOTE_ID_PATTERN,
        examples=["quote_01m93fg2c0zphb068sz6q9q60n"],
    )
    idempotency_key: str | None = Field(default=None, max_length=200)
