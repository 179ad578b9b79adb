"""Credits queries: quotes, receipts, payment attempts and provider events.

The ledger's own queries (balances, grants by scope) stay in ``ledger.py``,
next to the append-only rules they serve.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import CreditQuote, PaymentAttempt, ProviderEvent, Receipt


async def quote(session: AsyncSession, quote_id: str, *, lock: bool = False) -> CreditQuote | None:
    """A quote by id, row-locked (``FOR UPDATE``) when asked."""
    query = select(CreditQuote).where(CreditQuote.id == quote_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def keyed_quote(session: AsyncSession, actor_id: str, key: str) -> CreditQuote | None:
    """The quote an actor already made with this idempotency key."""
    query = select(CreditQuote).where(
        CreditQuote.actor_id == actor_id, CreditQuote.idempotency_key == key
    )
    return (await session.execute(query)).scalar_one_or_none()


async def receipt(session: AsyncSession, receipt_id: str) -> Receipt | None:
    """A receipt by id."""
    return await session.get(Receipt, receipt_id)


async def receipt_for(session: AsyncSession, quote_id: str) -> Receipt | None:
    """The receipt that consumed a quote, if any."""
    query = select(Receipt).where(Receipt.quote_id == quote_id)
    return (await session.execute(query)).scalar_one_or_none()


async def attempt_for(session: AsyncSession, quote_id: str) -> PaymentAttempt | None:
    """The payment attempt of a quote (there is at most one)."""
    query = select(PaymentAttempt).where(PaymentAttempt.quote_id == quote_id)
    return (await session.execute(query)).scalar_one_or_none()


async def attempt(session: AsyncSession, attempt_id: str) -> PaymentAttempt | None:
    """A payment attempt by id."""
    return await session.get(PaymentAttempt, attempt_id)


async def attempt_by_checkout_session(
    session: AsyncSession, checkout_session_id: str
) -> PaymentAttempt | None:
    """The payment attempt of a Stripe Checkout Session."""
    query = select(PaymentAttempt).where(PaymentAttempt.checkout_session_id == checkout_session_id)
    return (await session.execute(query)).scalar_one_or_none()


async def provider_event(session: AsyncSession, event_id: str) -> ProviderEvent | None:
    """A recorded provider (Stripe) event by id."""
    return await session.get(ProviderEvent, event_id)
