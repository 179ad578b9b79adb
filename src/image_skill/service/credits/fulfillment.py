"""Granting purchased credits: exactly once per quote, whatever the rail.

The receipt table allows one receipt per quote and the ledger row carries the
scope ``purchase:<quote_id>``; both are checked under the quote's row lock, so
replays, retries and webhook storms can only ever find the existing grant.
The grant, the claim-state change and the activity event share one
transaction with the ledger row.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.activity.recorder import Headline, Origin, record
from image_skill.service.credits import ledger, repository
from image_skill.service.db.models import CreditQuote, Receipt
from image_skill.service.identity import repository as identity_repository

_GRANTED = Headline("credits.payment_backed_granted", "Payment-backed credits granted", "succeeded")


async def grant_for_quote(
    session: AsyncSession,
    quote: CreditQuote,
    *,
    payment_attempt_id: str | None,
    provider_event_id: str | None,
    idempotency_key: str | None,
    trace_id: str | None,
) -> tuple[Receipt, bool]:
    """The quote's receipt, creating it (and the grant) only the first time."""
    existing = await repository.receipt_for(session, quote.id)
    if existing is not None:
        return existing, False
    entry = await ledger.append_raw(
        session,
        organization_id=quote.organization_id,
        actor_id=quote.actor_id,
        kind=ledger.PURCHASE_GRANT,
        amount=quote.credits,
        reason=f"purchase_{quote.payment_method}",
        scope=f"purchase:{quote.id}",
        reference_id=quote.id,
    )
    assert entry is not None, "a purchase grant exists without its receipt"
    receipt = Receipt(
        id=new_id("receipt"),
        quote_id=quote.id,
        payment_attempt_id=payment_attempt_id,
        organization_id=quote.organization_id,
        actor_id=quote.actor_id,
        credits=quote.credits,
        amount_cents=quote.price_amount_cents,
        currency=quote.currency,
        payment_method=quote.payment_method,
        live_money=quote.live_money,
        idempotency_key=idempotency_key,
        credit_event_id=entry.id,
        provider_event_id=provider_event_id,
        created_at=utc_now(),
    )
    session.add(receipt)
    actor = await identity_repository.actor(session, quote.actor_id)
    if actor is not None and actor.claim_state == "unclaimed":
        actor.claim_state = "payment_backed_unclaimed"
        actor.updated_at = utc_now()
    await record(
        session,
        _GRANTED,
        Origin(quote.organization_id, quote.actor_id, trace_id),
        subject_id=entry.id,
        links={"quote_id": quote.id, "receipt_id": receipt.id, "credit_event_id": entry.id},
        cost={"credits": quote.credits, "amount_cents": quote.price_amount_cents},
    )
    await session.flush()
    return receipt, True
