"""Credit quotes: bounded, expiring terms. A quote never grants anything by itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.contract.ids import iso, new_id, utc_now
from image_skill.service.credits.packs import (
    CURRENCY,
    MAX_CUSTOM_CREDITS,
    MIN_CUSTOM_CREDITS,
    PACKS,
)
from image_skill.service.credits.rails.fake_switch import fake_rail_enabled, fake_rail_refusal
from image_skill.service.db.models import CreditQuote, Receipt
from image_skill.service.idempotency import check_key, reused
from image_skill.service.identity.principal import Principal
from image_skill.service.outcome import Outcome
from image_skill.service.settings import Settings

PAYMENT_METHODS = ("fake", "stripe_checkout")
# Stripe refuses charges under $0.50 in USD; such a quote could never be paid.
STRIPE_MINIMUM_CREDITS = 50


def _fingerprint(credits: int | None, pack_id: str | None, method: str, pepper: str) -> str:
    canonical = json.dumps({"credits": credits, "pack_id": pack_id, "method": method})
    return hmac.new(pepper.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def _amount(credits: int | None, pack_id: str | None) -> int:
    if (credits is None) == (pack_id is None):
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "Give exactly one of credits or pack_id.",
            details={"field": "credits"},
            recovery={
                "required_flag": "--pack",
                "suggested_command": "image-skill credits quote --pack starter-500 --json",
            },
        )
    if pack_id is not None:
        pack = PACKS.get(pack_id)
        if pack is None:
            raise invalid_arguments(
                f"Unknown pack; choose one of {', '.join(PACKS)}.", field="pack_id"
            )
        return pack.credits
    assert credits is not None
    if not MIN_CUSTOM_CREDITS <= credits <= MAX_CUSTOM_CREDITS:
        raise invalid_arguments(
            f"credits must be between {MIN_CUSTOM_CREDITS} and {MAX_CUSTOM_CREDITS}.",
            field="credits",
        )
    return credits


def live_money_for(method: str, settings: Settings) -> bool:
    """Whether paying a quote of ``method`` moves real money on this service."""
    if method != "stripe_checkout":
        return False
    key = settings.stripe_secret_key or ""
    return bool(key) and not key.startswith(("sk_test_", "rk_test_"))


async def create_quote(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    credits: int | None,
    pack_id: str | None,
    payment_method: str,
    idempotency_key: str | None,
) -> Outcome[CreditQuote]:
    """A new quote (201), or the same one again for a repeated idempotency key."""
    if payment_method not in PAYMENT_METHODS:
        raise invalid_arguments(
            f"payment_method must be one of {', '.join(PAYMENT_METHODS)}.",
            field="payment_method",
        )
    if payment_method == "fake" and not fake_rail_enabled(settings):
        raise fake_rail_refusal(settings)
    amount = _amount(credits, pack_id)
    if payment_method == "stripe_checkout" and amount < STRIPE_MINIMUM_CREDITS:
        raise invalid_arguments(
            f"Stripe Checkout needs at least {STRIPE_MINIMUM_CREDITS} credits "
            f"(${STRIPE_MINIMUM_CREDITS / 100:.2f}); use a pack or a larger amount.",
            field="credits",
        )
    warnings: list[str] = []
    key = check_key(idempotency_key)
    if key is None:
        key = f"auto-{secrets.token_hex(8)}"
        warnings.append("No idempotency_key was given; retries will create new quotes.")
    fingerprint = _fingerprint(credits, pack_id, payment_method, settings.token_pepper)
    existing = await _keyed_quote(session, principal.actor_id, key)
    if existing is not None:
        return _replay(existing, fingerprint)
    now = utc_now()
    quote = CreditQuote(
        id=new_id("quote"),
        organization_id=principal.organization_id,
        actor_id=principal.actor_id,
        credits=amount,
        price_amount_cents=amount,
        currency=CURRENCY,
        payment_method=payment_method,
        pack_id=pack_id,
        live_money=live_money_for(payment_method, settings),
        idempotency_key=key,
        request_hash=fingerprint,
        expires_at=now + timedelta(seconds=settings.quote_ttl_seconds),
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(quote)
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer as its replay.
        existing = await _keyed_quote(session, principal.actor_id, key)
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return Outcome(quote, warnings, status_code=201)


async def _keyed_quote(session: AsyncSession, actor_id: str, key: str) -> CreditQuote | None:
    query = select(CreditQuote).where(
        CreditQuote.actor_id == actor_id, CreditQuote.idempotency_key == key
    )
    return (await session.execute(query)).scalar_one_or_none()


def _replay(existing: CreditQuote, fingerprint: str) -> Outcome[CreditQuote]:
    if existing.request_hash != fingerprint:
        raise reused()
    replayed = ["Replayed: this idempotency key already produced this quote."]
    return Outcome(existing, replayed, status_code=201)


def is_expired(quote: CreditQuote) -> bool:
    """True once the quote's window has passed."""
    expires = quote.expires_at
    if expires.tzinfo is None:
        from datetime import UTC

        expires = expires.replace(tzinfo=UTC)
    return utc_now() >= expires


async def receipt_for(session: AsyncSession, quote_id: str) -> Receipt | None:
    """The receipt that consumed a quote, if any."""
    query = select(Receipt).where(Receipt.quote_id == quote_id)
    return (await session.execute(query)).scalar_one_or_none()


async def owned_quote(
    session: AsyncSession, principal: Principal, quote_id: str, *, lock: bool = False
) -> CreditQuote:
    """The caller's quote (row-locked when asked), or NOT_FOUND."""
    query = select(CreditQuote).where(CreditQuote.id == quote_id)
    if lock:
        query = query.with_for_update()
    quote = (await session.execute(query)).scalar_one_or_none()
    if quote is None or quote.actor_id != principal.actor_id:
        raise ImageSkillError(
            ErrorCode.NOT_FOUND,
            "No such quote for this agent.",
            recovery={"suggested_command": "image-skill credits quote --pack starter-500 --json"},
        )
    return quote


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
