"""Credits for agents: quotes (bounded, expiring terms that never grant anything by
themselves) and where a purchase stands.

``credits status`` checks the reference for shape before any query, and a
reference that exists but belongs to another agent answers exactly like one
that does not exist (same code, message and details), so status cannot be
used to learn whether someone else's purchase exists. Paying a quote is a
rail's job (``rails/``); granting its credits is ``fulfillment``'s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import (
    ErrorCode,
    ImageSkillError,
    flag_required,
    invalid_arguments,
    not_found,
)
from image_skill.contract.ids import new_id, utc_now
from image_skill.service.credits import repository
from image_skill.service.credits.packs import (
    CURRENCY,
    MAX_CUSTOM_CREDITS,
    MIN_CUSTOM_CREDITS,
    PACKS,
)
from image_skill.service.credits.rails.fake_switch import (
    fake_rail_enabled,
    fake_rail_refusal,
)
from image_skill.service.credits.references import checked
from image_skill.service.credits.schemas import (
    attempt_view,
    credit_event_view,
    quote_state,
    quote_view,
    receipt_view,
)
from image_skill.service.db.models import CreditQuote, PaymentAttempt
from image_skill.service.idempotency import check_key, reused
from image_skill.service.identity.principal import Principal
from image_skill.service.outcome import Outcome
from image_skill.service.quota.service import quota_view
from image_skill.service.settings import Settings

PAYMENT_METHODS = ("fake", "stripe_checkout")
CLAIM_COMMAND = "image-skill claim request --json"
# Stripe refuses charges under $0.50 in USD; such a quote could never be paid.
STRIPE_MINIMUM_CREDITS = 50


def _fingerprint(credits: int | None, pack_id: str | None, method: str, pepper: str) -> str:
    canonical = json.dumps({"credits": credits, "pack_id": pack_id, "method": method})
    return hmac.new(pepper.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def _amount(credits: int | None, pack_id: str | None) -> int:
    if (credits is None) == (pack_id is None):
        raise flag_required(
            "Give exactly one of credits or pack_id.",
            "--pack",
            field="credits",
            suggested_command="image-skill credits quote --pack starter-500 --json",
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


def default_payment_method(settings: Settings) -> str | None:
    """The rail a quote uses when none is named: Stripe Checkout when it is configured,
    else the fake rail when it is on, else None (this service takes no payments)."""
    if settings.stripe_secret_key:
        return "stripe_checkout"
    return "fake" if fake_rail_enabled(settings) else None


def top_up_command(settings: Settings, credits: int | None = None) -> str | None:
    """The quote command for buying credits on a rail configured here (None: no rail is)."""
    method = default_payment_method(settings)
    if method is None:
        return None
    small = credits is None or (method == "stripe_checkout" and credits < STRIPE_MINIMUM_CREDITS)
    amount = "--pack starter-500" if small else f"--credits {credits}"
    return f"image-skill credits quote {amount} --payment-method {method} --json"


def no_payments_refusal() -> ImageSkillError:
    """PAYMENT_PROVIDER_NOT_CONFIGURED when no rail at all is on here (says what else helps)."""
    return ImageSkillError(
        ErrorCode.PAYMENT_PROVIDER_NOT_CONFIGURED,
        "Payments are not configured on this service (no Stripe key, fake rail off); ask its "
        "operator for credits, or have a human claim this agent for a higher daily job cap.",
        recovery={"suggested_command": CLAIM_COMMAND},
    )


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
    payment_method: str | None,
    idempotency_key: str | None,
) -> Outcome[CreditQuote]:
    """A new quote (201), or the same one again for a repeated idempotency key; no
    ``payment_method`` means the rail this service has configured."""
    if payment_method is None:
        payment_method = default_payment_method(settings)
        if payment_method is None:
            raise no_payments_refusal()
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
    existing = await repository.keyed_quote(session, principal.actor_id, key)
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
        existing = await repository.keyed_quote(session, principal.actor_id, key)
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return Outcome(quote, warnings, status_code=201)


def _replay(existing: CreditQuote, fingerprint: str) -> Outcome[CreditQuote]:
    if existing.request_hash != fingerprint:
        raise reused()
    replayed = ["Replayed: this idempotency key already produced this quote."]
    return Outcome(existing, replayed, status_code=201)


async def owned_quote(
    session: AsyncSession, principal: Principal, quote_id: str, *, lock: bool = False
) -> CreditQuote:
    """The caller's quote (row-locked when asked), or NOT_FOUND."""
    quote = await repository.quote(session, quote_id, lock=lock)
    if quote is None or quote.actor_id != principal.actor_id:
        raise not_found(
            "No such quote for this agent.",
            suggested_command="image-skill credits quote --pack starter-500 --json",
        )
    return quote


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
    receipt = await repository.receipt_for(session, quote.id)
    attempt = await repository.attempt_for(session, quote.id)
    provider_event = None
    if attempt is not None and attempt.last_provider_event_id:
        provider_event = await repository.provider_event(session, attempt.last_provider_event_id)
    state = _state(quote_state(quote, receipt), attempt)
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
        "next": _next(state, attempt, quote, settings),
    }
    return data


async def _owned_quote_for(
    session: AsyncSession, principal: Principal, name: str, value: str
) -> CreditQuote:
    """The caller's quote behind the reference; one NOT_FOUND for missing and foreign alike."""
    quote_id: str | None = value
    if name == "receipt_id":
        receipt = await repository.receipt(session, value)
        quote_id = receipt.quote_id if receipt else None
    elif name != "quote_id":
        attempt = await (
            repository.attempt(session, value)
            if name == "payment_attempt_id"
            else repository.attempt_by_checkout_session(session, value)
        )
        quote_id = attempt.quote_id if attempt else None
    quote = await repository.quote(session, quote_id) if quote_id else None
    if quote is None or quote.actor_id != principal.actor_id:
        raise not_found(
            f"No purchase of this agent matches that {name}.",
            suggested_command="image-skill credits quote --pack starter-500 --json",
            field=name,
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
    state: str, attempt: PaymentAttempt | None, quote: CreditQuote, settings: Settings
) -> dict[str, Any] | None:
    if state == "action_required":
        return {
            "retry_after_seconds": 10,
            "human_action": "open_checkout_url",
            "checkout_url": attempt.checkout_url if attempt else None,
        }
    if state == "processing":
        return {"retry_after_seconds": 30, "human_action": None}
    if state == "quoted" and quote.payment_method == "fake" and not fake_rail_enabled(settings):
        # The fake rail was switched off after this quote was made: Stripe (if configured) now.
        return _suggest(top_up_command(settings) or CLAIM_COMMAND)
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
        return _suggest(top_up_command(settings) or CLAIM_COMMAND)
    return None


def _suggest(command: str) -> dict[str, Any]:
    return {"suggested_command": command}
