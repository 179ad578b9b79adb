"""Request bodies of the credits routes: exactly the public fields, nothing else."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QuoteRequest(BaseModel):
    """``POST /v1/credit-quotes``."""

    model_config = ConfigDict(extra="ignore")

    credits: int | None = None
    pack_id: str | None = Field(default=None, max_length=40)
    payment_method: str = Field(default="fake", max_length=40)
    idempotency_key: str | None = Field(default=None, max_length=200)


class PurchaseRequest(BaseModel):
    """``POST /v1/credit-purchases`` and ``/stripe-checkout-sessions``."""

    model_config = ConfigDict(extra="ignore")

    quote_id: str = Field(min_length=1, max_length=64)
    idempotency_key: str | None = Field(default=None, max_length=200)
