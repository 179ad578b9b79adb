"""``credits buy`` (Checkout Session per quote) and Stripe webhook fulfillment.

Unlike the other services, these take the engine, not a request session: a
buy reads the quote in one short transaction, calls Stripe over the network
with no transaction open, then records the attempt in a second one (a raced
insert re-reads the winner in a third). A webhook whose event contradicts our
record asks Stripe for the session's status the same way, between its read
and its write. Holding a database transaction (and,
on SQLite, the writer lock) across a Stripe call would stall every other
writer for the length of a network round trip.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.contract.ids import new_id, utc_now
from image_skill.service.activity.recorder import Headline, Origin, record
from image_skill.service.credits import repository
from image_skill.service.credits.fulfillment import grant_for_quote
from image_skill.service.credits.rails.stripe_api import (
    FAILING_EVENTS,
    FULFILLING_EVENTS,
    StripeRail,
)
from image_skill.service.credits.references import checked, checked_event_type
from image_skill.service.credits.schemas import is_expired
from image_skill.service.credits.service import owned_quote
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import CreditQuote, PaymentAttempt, ProviderEvent
from image_skill.service.idempotency import require_key
from image_skill.service.identity.principal import Principal
from image_skill.service.outcome import Outcome
from image_skill.service.settings import Settings

AFTER_PAYMENT = (
    "poll image-skill credits status --payment-attempt-id {id} --json or image-skill usage "
    "quota --json; credits arrive only after verified webhook fulfillment"
)
_SESSION_CREATED = Headline(
    "payment.checkout_session.created",
    "Checkout session created; awaiting payment",
    "action_required",
)


def _buy_data(quote: CreditQuote, attempt: PaymentAttempt) -> dict[str, Any]:
    return {
        "state": "action_required" if attempt.status == "requires_action" else attempt.status,
        "quote_id": quote.id,
        "payment_attempt_id": attempt.id,
        "provider": "stripe",
        "accepted_payment_method": "stripe_checkout",
        "checkout_session_id": attempt.checkout_session_id,
        "checkout_url": attempt.checkout_url,
        "credits": quote.credits,
        "amount_cents": quote.price_amount_cents,
        "currency": quote.currency,
        "live_money": quote.live_money,
        "next": {
            # Only an open session is worth a human's visit (a replay after payment,
            # failure or expiry must not send them to a dead checkout page).
            "human_action": "open_checkout_url" if attempt.status == "requires_action" else None,
            "after_payment": AFTER_PAYMENT.format(id=attempt.id),
        },
    }


async def _existing_attempt(engine: AsyncEngine, quote_id: str) -> PaymentAttempt | None:
    async with session_scope(engine, write=False) as session:
        return await repository.attempt_for(session, quote_id)


async def buy_with_stripe(
    engine: AsyncEngine,
    settings: Settings,
    principal: Principal,
    *,
    quote_id: str,
    idempotency_key: str | None,
    trace_id: str,
) -> Outcome[dict[str, Any]]:
    """One Checkout Session per quote (201); never touches the balance."""
    key = require_key(idempotency_key, "a retried buy must find its first checkout session")
    async with session_scope(engine, write=False) as session:
        quote = await owned_quote(session, principal, quote_id)
        receipt = await repository.receipt_for(session, quote.id)
    if quote.payment_method != "stripe_checkout":
        raise invalid_arguments(
            "This quote is for the fake rail; request one with --payment-method stripe_checkout.",
            field="quote_id",
        )
    existing = await _existing_attempt(engine, quote.id)
    if existing is not None:
        note = (
            []
            if existing.idempotency_key == key
            else ["This quote already has a checkout session; it is returned instead of a new one."]
        )
        replayed = ["Replayed: checkout session already exists.", *note]
        return Outcome(_buy_data(quote, existing), replayed, status_code=201)
    if receipt is not None:
        raise ImageSkillError(ErrorCode.QUOTE_CONSUMED, "This quote was already paid.")
    if is_expired(quote):
        raise ImageSkillError(
            ErrorCode.QUOTE_EXPIRED,
            "This quote has expired; request a new one.",
            recovery={
                "suggested_command": "image-skill credits quote --pack starter-500 "
                "--payment-method stripe_checkout --json"
            },
        )
    session_id, url = await StripeRail(settings).create_checkout_session(quote)
    now = utc_now()
    attempt = PaymentAttempt(
        id=new_id("payatt"),
        quote_id=quote.id,
        organization_id=quote.organization_id,
        actor_id=quote.actor_id,
        provider="stripe",
        status="requires_action",
        checkout_session_id=session_id,
        checkout_url=url,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session_scope(engine, write=True) as session:
            session.add(attempt)
            await session.flush()
            await record(
                session,
                _SESSION_CREATED,
                Origin(quote.organization_id, quote.actor_id, trace_id),
                subject_id=attempt.id,
                links={
                    "quote_id": quote.id,
                    "payment_attempt_id": attempt.id,
                    "checkout_session_id": session_id,
                },
                cost={"credits": quote.credits, "amount_cents": quote.price_amount_cents},
            )
    except IntegrityError:
        raced = await _existing_attempt(engine, quote.id)
        if raced is None:
            raise ImageSkillError(
                ErrorCode.CONFLICT, "A concurrent buy of this quote failed; retry.", retryable=True
            ) from None
        replayed = ["Replayed: checkout session already exists."]
        return Outcome(_buy_data(quote, raced), replayed, status_code=201)
    return Outcome(_buy_data(quote, attempt), status_code=201)


# Local attempt states after which a "paid" event contradicts what we were told.
DOUBTFUL = ("expired", "failed")


def _claims_paid(event_type: str, obj: dict[str, Any]) -> bool:
    return event_type in FULFILLING_EVENTS and obj.get("payment_status") == "paid"


def _event_fields(event: dict[str, Any]) -> tuple[str, str, dict[str, Any], str | None]:
    """Id, type, object and checkout session id, each checked before it nears the database."""
    event_id = checked("event_id", event.get("id"), field="id")
    event_type = checked_event_type(event.get("type"))
    obj = (event.get("data") or {}).get("object") or {}
    session_id = None
    if obj.get("object") == "checkout.session":
        session_id = checked("checkout_session_id", obj.get("id"), field="data.object.id")
    return event_id, event_type, obj, session_id


async def _stripe_verdict(
    engine: AsyncEngine, settings: Settings, event_id: str, session_id: str
) -> bool | None:
    """Stripe's word on whether the session is paid, asked only when our record disagrees."""
    async with session_scope(engine, write=False) as session:
        if await repository.provider_event(session, event_id) is not None:
            return None
        attempt = await repository.attempt_by_checkout_session(session, session_id)
        status = attempt.status if attempt else None
    if status not in DOUBTFUL:
        return None
    return await StripeRail(settings).payment_status_of(session_id) == "paid"


async def handle_stripe_event(
    engine: AsyncEngine, settings: Settings, event: dict[str, Any]
) -> dict[str, Any]:
    """Record a verified event once and fulfill its checkout session at most once."""
    event_id, event_type, obj, session_id = _event_fields(event)
    verdict = None
    if session_id and _claims_paid(event_type, obj):
        verdict = await _stripe_verdict(engine, settings, event_id, session_id)
    try:
        async with session_scope(engine, write=True) as session:
            if await repository.provider_event(session, event_id) is not None:
                return {"received": True, "event_id": event_id, "duplicate": True}
            outcome = "ignored"
            attempt = None
            if session_id:
                attempt = await repository.attempt_by_checkout_session(session, session_id)
            if attempt is not None:
                outcome = await _apply(session, attempt, event_type, obj, event_id, verdict)
            elif session_id and event_type in FULFILLING_EVENTS:
                outcome = "unknown_checkout_session"
            session.add(
                ProviderEvent(
                    id=event_id,
                    provider="stripe",
                    type=event_type,
                    checkout_session_id=session_id,
                    outcome=outcome,
                    received_at=utc_now(),
                )
            )
            await session.flush()
    except IntegrityError:
        return {"received": True, "event_id": event_id, "duplicate": True}
    return {"received": True, "event_id": event_id, "duplicate": False, "outcome": outcome}


async def _apply(
    session: Any,
    attempt: PaymentAttempt,
    event_type: str,
    obj: dict[str, Any],
    event_id: str,
    verdict: bool | None,
) -> str:
    quote = await repository.quote(session, attempt.quote_id, lock=True)
    assert quote is not None, "a payment attempt exists without its quote"
    # Under the quote's lock: the attempt as it is now, not as it was before the lock.
    await session.refresh(attempt)
    previous = attempt.status
    attempt.last_provider_event_id = event_id
    attempt.updated_at = utc_now()
    if _claims_paid(event_type, obj):
        if previous in DOUBTFUL:
            if verdict is None:
                # Expired or failed while this event was on its way: Stripe redelivers a
                # non-2xx answer, and the redelivery asks Stripe's API first.
                raise ImageSkillError(
                    ErrorCode.CONFLICT,
                    "The checkout session changed state while this event was handled; retry.",
                    retryable=True,
                )
            if not verdict:
                return "not_paid_per_stripe"
        _, created = await grant_for_quote(
            session,
            quote,
            payment_attempt_id=attempt.id,
            provider_event_id=event_id,
            idempotency_key=None,
            trace_id=None,
        )
        attempt.status = "succeeded"
        if not created:
            return "already_granted"
        return f"granted_after_{previous}" if previous in DOUBTFUL else "granted"
    if event_type == "checkout.session.completed":
        if attempt.status == "requires_action":
            attempt.status = "processing"
        return "awaiting_async_payment"
    if event_type in FAILING_EVENTS and attempt.status != "succeeded":
        attempt.status = FAILING_EVENTS[event_type]
        return attempt.status
    return "ignored"
