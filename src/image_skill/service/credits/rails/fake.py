"""The fake/test settlement rail: exercises quotes, receipts and the ledger with no money.

Deliberately named fake: it moves no money, accepts no payment credential and
says ``live_money: false``. It settles only where ``fake_switch`` says the rail
is on (off by default; docs/payments.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.service.credits import ledger, repository
from image_skill.service.credits.fulfillment import grant_for_quote
from image_skill.service.credits.rails.fake_switch import fake_rail_enabled, fake_rail_refusal
from image_skill.service.credits.schemas import is_expired
from image_skill.service.credits.service import owned_quote
from image_skill.service.db.models import Receipt
from image_skill.service.idempotency import require_key
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.principal import Principal
from image_skill.service.outcome import Outcome
from image_skill.service.settings import Settings


async def fake_purchase(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    quote_id: str,
    idempotency_key: str | None,
    trace_id: str,
) -> Outcome[dict[str, Any]]:
    """Settle a fake quote exactly once; a retry with the same key replays the receipt."""
    if not fake_rail_enabled(settings):
        raise fake_rail_refusal(settings)
    key = require_key(idempotency_key, "this call changes your credit balance")
    quote = await owned_quote(session, principal, quote_id, lock=True)
    receipt = await repository.receipt_for(session, quote.id)
    if receipt is not None:
        if receipt.idempotency_key == key:
            replayed = ["Replayed: this purchase already happened."]
            return Outcome(await _data(session, receipt, key), replayed, status_code=201)
        raise ImageSkillError(
            ErrorCode.QUOTE_CONSUMED,
            "This quote was already paid; request a new quote.",
            recovery={"suggested_command": "image-skill credits quote --credits N --json"},
        )
    if quote.payment_method != "fake":
        raise invalid_arguments(
            "This quote is for Stripe Checkout; use credits buy --provider stripe.",
            field="quote_id",
        )
    if is_expired(quote):
        raise ImageSkillError(
            ErrorCode.QUOTE_EXPIRED,
            "This quote has expired; request a new one.",
            recovery={"suggested_command": "image-skill credits quote --credits N --json"},
        )
    receipt, _ = await grant_for_quote(
        session,
        quote,
        payment_attempt_id=None,
        provider_event_id=None,
        idempotency_key=key,
        trace_id=trace_id,
    )
    return Outcome(await _data(session, receipt, key), status_code=201)


async def _data(session: AsyncSession, receipt: Receipt, key: str) -> dict[str, Any]:
    actor = await identity_repository.actor(session, receipt.actor_id)
    return {
        "state": "succeeded",
        "quote_id": receipt.quote_id,
        "receipt_id": receipt.id,
        "credit_event_id": receipt.credit_event_id,
        "credits_granted": receipt.credits,
        "amount_cents": receipt.amount_cents,
        "currency": receipt.currency,
        "accepted_payment_method": "fake",
        "idempotency_key": key,
        "balance_after": await ledger.balance(session, receipt.actor_id),
        "claim_state": actor.claim_state if actor else None,
        "live_money": False,
    }
