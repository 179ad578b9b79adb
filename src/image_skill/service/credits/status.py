"""``credits status``: the durable state of a quote, payment attempt or receipt.

The reference is checked for shape before any query, and a reference that
exists but belongs to another agent answers exactly like one that does not
exist (same code, message and details), so status cannot be used to learn
whether someone else's purchase exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.credits.fulfillment import credit_event_view, receipt_view
from image_skill.service.credits.quotes import quote_state, quote_view, receipt_for
from image_skill.service.credits.rails.fake_switch import STRIPE_QUOTE, fake_rail_enabled
from image_skill.service.credits.rails.stripe_checkout import attempt_view
from image_skill.service.credits.references import checked
from image_skill.service.db.models import CreditQuote, PaymentAttempt, ProviderEvent, Receipt
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.service import quota_view
from image_skill.service.settings import Settings


async def purchase_status(
    session: AsyncSession, settings: Settings, principal: Principal, refs: dict[str, str | None]
) -> dict[str, Any]:
    """Resolve exactly one reference to its quote and report where the payment stands."""
    given = {name: value for name, value in refs.items() if value}
    if len(given) != 1:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "Give exactly one of quote_id, payment_attempt_id, checkout_session_id, receipt_id.",
            details={"field": "quote_id"},
            recovery={"required_flag": "--payment-attempt-id"},
        )
    ((name, value),) = given.items()
    value = checked(name, value)
    quote = await _owned_quote_for(session, principal, name, value)
    receipt = await receipt_for(session, quote.id)
    attempt = (
        await session.execute(select(PaymentAttempt).where(PaymentAttempt.quote_id == quote.id))
    ).scalar_one_or_none()
    provider_event = None
    if attempt is not None and attempt.last_provider_event_id:
        provider_event = await session.get(ProviderEvent, attempt.last_provider_event_id)
    state = _state(quote_state(quote, receipt), attempt)
    fake_on = fake_rail_enabled(settings)
    data: dict[str, Any] = {
        "state": state,
        "reference": {"type": name, "id": value},
        "quote": quote_view(quote, receipt),
        "payment_attempt": attempt_view(attempt),
        "receipt": receipt_view(receipt),
        "credit_event": credit_event_view(receipt),
        "provider_event": (
            {
                "event_id": provider_event.id,
                "type": provider_event.type,
                "outcome": provider_event.outcome,
            }
            if provider_event
            else None
        ),
        "limits": await quota_view(session, settings, principal),
        "next": _next(state, attempt, quote, fake_on=fake_on),
    }
    return data


async def _owned_quote_for(
    session: AsyncSession, principal: Principal, name: str, value: str
) -> CreditQuote:
    """The caller's quote behind the reference; one NOT_FOUND for missing and foreign alike."""
    quote_id: str | None = value
    if name == "receipt_id":
        receipt = await session.get(Receipt, value)
        quote_id = receipt.quote_id if receipt else None
    elif name != "quote_id":
        column = (
            PaymentAttempt.id
            if name == "payment_attempt_id"
            else PaymentAttempt.checkout_session_id
        )
        attempt = (
            await session.execute(select(PaymentAttempt).where(column == value))
        ).scalar_one_or_none()
        quote_id = attempt.quote_id if attempt else None
    quote = await session.get(CreditQuote, quote_id) if quote_id else None
    if quote is None or quote.actor_id != principal.actor_id:
        raise ImageSkillError(
            ErrorCode.NOT_FOUND,
            f"No purchase of this agent matches that {name}.",
            details={"field": name},
            recovery={"suggested_command": "image-skill credits quote --pack starter-500 --json"},
        )
    return quote


def _state(quote_state_value: str, attempt: PaymentAttempt | None) -> str:
    if quote_state_value == "consumed":
        return "succeeded"
    if attempt is not None:
        if attempt.status == "requires_action":
            return "expired" if quote_state_value == "expired" else "action_required"
        return attempt.status
    return "expired" if quote_state_value == "expired" else "quoted"


def _next(
    state: str, attempt: PaymentAttempt | None, quote: CreditQuote, *, fake_on: bool
) -> dict[str, Any] | None:
    if state == "action_required":
        return {
            "retry_after_seconds": 10,
            "human_action": "open_checkout_url",
            "checkout_url": attempt.checkout_url if attempt else None,
        }
    if state == "processing":
        return {"retry_after_seconds": 30, "human_action": None}
    if state == "quoted" and quote.payment_method == "fake" and not fake_on:
        # The fake rail was switched off after this quote was made: only Stripe can pay now.
        return {"suggested_command": STRIPE_QUOTE}
    if state == "quoted":
        # The command that pays this quote on its own rail (the other one refuses it).
        pay = (
            "credits buy --provider stripe"
            if quote.payment_method == "stripe_checkout"
            else "credits fake-purchase"
        )
        return {
            "suggested_command": f"image-skill {pay} --quote-id {quote.id} "
            "--idempotency-key KEY --json"
        }
    if state == "expired":
        return {"suggested_command": "image-skill credits quote --pack starter-500 --json"}
    return None
