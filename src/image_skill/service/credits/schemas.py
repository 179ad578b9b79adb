"""Request bodies of the credits routes and the public shapes of quotes, receipts and
payment attempts (the views that build them, then the models that describe every answer).

Request bodies carry exactly the public fields, nothing else. Numbers are
strict: a JSON ``true`` or ``"500"`` is not a credit amount (lax pydantic would
read ``true`` as 1), and OpenAPI documents the real types.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from image_skill.contract.ids import iso, utc_now
from image_skill.service.credits import ledger
from image_skill.service.credits.packs import PACKS
from image_skill.service.credits.references import OUR_ID_MAX, QUOTE_ID_PATTERN
from image_skill.service.db.models import CreditQuote, PaymentAttempt, Receipt
from image_skill.service.quota.schemas import QuotaData


class QuoteRequest(BaseModel):
    """``POST /v1/credit-quotes``."""

    model_config = ConfigDict(extra="ignore")

    credits: StrictInt | None = None
    pack_id: str | None = Field(default=None, max_length=40)
    # Omitted: the rail this service has configured (Stripe Checkout, else the fake rail).
    payment_method: str | None = Field(default=None, max_length=40)
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


def is_expired(quote: CreditQuote) -> bool:
    """True once the quote's window has passed."""
    expires = quote.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return utc_now() >= expires


def quote_state(quote: CreditQuote, receipt: Receipt | None) -> str:
    """``consumed`` once paid, ``expired`` after its window, else ``created``."""
    if receipt is not None:
        return "consumed"
    return "expired" if is_expired(quote) else "created"


def quote_view(quote: CreditQuote, receipt: Receipt | None = None) -> dict[str, Any]:
    """Public form of a quote."""
    pack = PACKS.get(quote.pack_id) if quote.pack_id else None
    return {
        "quote_id": quote.id,
        "state": quote_state(quote, receipt),
        "credits": quote.credits,
        "price_amount_cents": quote.price_amount_cents,
        "currency": quote.currency,
        "expires_at": iso(quote.expires_at),
        "accepted_payment_method": quote.payment_method,
        "idempotency_key": quote.idempotency_key,
        "pack_id": quote.pack_id,
        "pack": pack.view() if pack else None,
        "live_money": quote.live_money,
        "created_at": iso(quote.created_at),
    }


def receipt_view(receipt: Receipt | None) -> dict[str, Any] | None:
    """Public form of a receipt."""
    if receipt is None:
        return None
    return {
        "receipt_id": receipt.id,
        "quote_id": receipt.quote_id,
        "payment_attempt_id": receipt.payment_attempt_id,
        "credits": receipt.credits,
        "amount_cents": receipt.amount_cents,
        "currency": receipt.currency,
        "accepted_payment_method": receipt.payment_method,
        "live_money": receipt.live_money,
        "created_at": iso(receipt.created_at),
    }


def credit_event_view(receipt: Receipt | None) -> dict[str, Any] | None:
    """The ledger movement a receipt produced."""
    if receipt is None:
        return None
    return {
        "credit_event_id": receipt.credit_event_id,
        "kind": ledger.PURCHASE_GRANT,
        "credits": receipt.credits,
        "created_at": iso(receipt.created_at),
    }


def attempt_view(attempt: PaymentAttempt | None) -> dict[str, Any] | None:
    """Public form of a payment attempt."""
    if attempt is None:
        return None
    return {
        "payment_attempt_id": attempt.id,
        "provider": attempt.provider,
        "checkout_session_id": attempt.checkout_session_id,
        "checkout_url": attempt.checkout_url,
        "attempt_status": attempt.status,
        "created_at": iso(attempt.created_at),
        "updated_at": iso(attempt.updated_at),
    }


class PackView(BaseModel):
    """A credit pack."""

    pack_id: str = Field(examples=["starter-500"])
    name: str
    credits: int
    amount_cents: int
    amount_usd: float
    currency: str
    summary: str


class CustomQuotes(BaseModel):
    """Bounds of a quote for a custom number of credits."""

    supported: bool
    min_credits: int
    max_credits: int


class PackCatalog(BaseModel):
    """``GET /v1/credit-packs``."""

    credit_unit_cents: int
    credit_unit_usd: float
    currency: str
    default_pack_id: str
    packs: list[PackView]
    custom_quotes: CustomQuotes
    payment_methods: list[str]


class QuoteView(BaseModel):
    """A quote (``POST /v1/credit-quotes``, 201 also when its key replays it)."""

    quote_id: str
    state: Literal["created", "consumed", "expired"]
    credits: int
    price_amount_cents: int
    currency: str
    expires_at: str
    accepted_payment_method: str
    idempotency_key: str | None
    pack_id: str | None
    pack: PackView | None
    live_money: bool
    created_at: str


class ReceiptView(BaseModel):
    """A receipt: the quote paid and the credits granted."""

    receipt_id: str
    quote_id: str
    payment_attempt_id: str | None
    credits: int
    amount_cents: int
    currency: str
    accepted_payment_method: str
    live_money: bool
    created_at: str


class CreditEventView(BaseModel):
    """The ledger movement a receipt produced."""

    credit_event_id: str
    kind: str
    credits: int
    created_at: str


class AttemptView(BaseModel):
    """A payment attempt (a Stripe Checkout Session)."""

    payment_attempt_id: str
    provider: str
    checkout_session_id: str | None
    checkout_url: str | None
    attempt_status: str
    created_at: str
    updated_at: str


class FakePurchase(BaseModel):
    """``POST /v1/credit-purchases`` (201): credits granted on the fake rail."""

    state: Literal["succeeded"]
    quote_id: str
    receipt_id: str
    credit_event_id: str
    credits_granted: int
    amount_cents: int
    currency: str
    accepted_payment_method: Literal["fake"]
    idempotency_key: str | None
    balance_after: int
    claim_state: str | None
    live_money: Literal[False]


class CheckoutNext(BaseModel):
    """What the human does next, and how the agent learns the outcome."""

    human_action: str | None
    after_payment: str


class CheckoutStarted(BaseModel):
    """``POST /v1/credit-purchases/stripe-checkout-sessions`` (201)."""

    state: str = Field(examples=["action_required"])
    quote_id: str
    payment_attempt_id: str
    provider: Literal["stripe"]
    accepted_payment_method: Literal["stripe_checkout"]
    checkout_session_id: str | None
    checkout_url: str | None
    credits: int
    amount_cents: int
    currency: str
    live_money: bool
    next: CheckoutNext


class StatusReference(BaseModel):
    """The one reference the status was asked by."""

    type: str
    id: str


class ProviderEventView(BaseModel):
    """The last payment-provider event applied to the attempt."""

    event_id: str
    type: str
    outcome: str


class PurchaseStatus(BaseModel):
    """``GET /v1/credit-purchases/status``: where a purchase stands."""

    state: str = Field(examples=["succeeded"])
    reference: StatusReference
    quote: QuoteView
    payment_attempt: AttemptView | None
    receipt: ReceiptView | None
    credit_event: CreditEventView | None
    provider_event: ProviderEventView | None
    limits: QuotaData
    next: dict[str, Any] | None = Field(description="Its fields depend on the state.")


class WebhookReceipt(BaseModel):
    """``POST /v1/webhooks/stripe``: the event was verified and recorded once."""

    received: Literal[True]
    event_id: str
    duplicate: bool
    outcome: str | None = Field(default=None, description="Absent on a duplicate.")
