"""Stripe Checkout through the official SDK, and verified webhook fulfillment.

Creating a Checkout Session never grants credits. Credits arrive only from a
webhook whose signature verifies against the raw body, dated no further than
``webhook_tolerance_seconds`` from now in either direction (Stripe's SDK only
bounds the past), for ``checkout.session.completed`` or
``checkout.session.async_payment_succeeded`` whose session says
``payment_status == "paid"``. When our own record contradicts that (the
session was already reported expired or failed), Stripe's API is asked
(``payment_status_of``). Events are stored once by id and the grant is once
per quote, so replays and any arrival order grant once (docs/payments.md).

The SDK is imported where Stripe is used, so a service that never takes a
payment (the embedded CLI's) starts without it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from image_skill.contract.errors import ErrorCode, ImageSkillError, retry_later
from image_skill.service.credits.packs import PACKS
from image_skill.service.db.models import CreditQuote
from image_skill.service.settings import Settings

FULFILLING_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILING_EVENTS = {
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "expired",
}


def not_configured(what: str) -> ImageSkillError:
    """The refusal when Stripe settings are missing."""
    return ImageSkillError(
        ErrorCode.PAYMENT_PROVIDER_NOT_CONFIGURED,
        f"Stripe is not configured on this service ({what} is not set).",
        recovery={"suggested_command": "image-skill credits quote --credits N --json"},
    )


class StripeRail:
    """A thin adapter: our quote in, a Checkout Session out; vendor errors mapped here."""

    def __init__(self, settings: Settings) -> None:
        """Refuses (PAYMENT_PROVIDER_NOT_CONFIGURED) without a secret key."""
        if not settings.stripe_secret_key:
            raise not_configured("IMAGE_SKILL_STRIPE_SECRET_KEY")
        import stripe

        self.settings = settings
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        # Async only, and closed after use: an unclosed client keeps its
        # keep-alive sockets to Stripe open until garbage collection.
        self.http = stripe.HTTPXClient(timeout=30, allow_sync_methods=False)
        self.client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=self.http,
            max_network_retries=2,
        )

    async def create_checkout_session(self, quote: CreditQuote) -> tuple[str, str]:
        """A Checkout Session for the quote (idempotent per quote at Stripe too)."""
        import stripe

        pack = PACKS.get(quote.pack_id) if quote.pack_id else None
        name = (
            f"Image Skill credits: {pack.name} ({quote.credits})"
            if pack
            else (f"Image Skill credits ({quote.credits})")
        )
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": quote.id,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": quote.currency.lower(),
                        "unit_amount": quote.price_amount_cents,
                        "product_data": {"name": name},
                    },
                }
            ],
            "metadata": {"quote_id": quote.id, "credits": str(quote.credits)},
            "success_url": self.settings.checkout_success_url.replace("{QUOTE_ID}", quote.id),
            "cancel_url": self.settings.checkout_cancel_url.replace("{QUOTE_ID}", quote.id),
        }
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"image-skill-checkout-{quote.id}"},
            )
        except stripe.AuthenticationError as exc:
            raise not_configured("a valid Stripe secret key") from exc
        except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
            raise retry_later(
                ErrorCode.PROVIDER_UNAVAILABLE, "Stripe is unavailable; retry shortly.", seconds=10
            ) from exc
        except stripe.StripeError as exc:
            raise ImageSkillError(
                ErrorCode.PROVIDER_FAILED,
                "Stripe refused to create the checkout session.",
                retryable=False,
            ) from exc
        finally:
            await self.http.close_async()
        if not session.id or not session.url:
            raise ImageSkillError(ErrorCode.PROVIDER_FAILED, "Stripe returned no checkout URL.")
        return str(session.id), str(session.url)

    async def payment_status_of(self, session_id: str) -> str | None:
        """Stripe's ``payment_status`` of a session (None if Stripe does not know it)."""
        import stripe

        try:
            session = await self.client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise _unavailable() from exc
        except stripe.AuthenticationError as exc:
            raise not_configured("a valid Stripe secret key") from exc
        except stripe.StripeError as exc:
            raise _unavailable() from exc
        finally:
            await self.http.close_async()
        status = session.get("payment_status")
        return status if isinstance(status, str) else None


def _unavailable() -> ImageSkillError:
    return retry_later(
        ErrorCode.PROVIDER_UNAVAILABLE,
        "Stripe could not confirm the session's payment; retry shortly.",
        seconds=10,
    )


def verify_event(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event if its signature verifies on the raw body; INVALID_ARGUMENTS otherwise."""
    import stripe

    if not settings.stripe_webhook_secret:
        raise not_configured("IMAGE_SKILL_STRIPE_WEBHOOK_SECRET")
    if not signature:
        raise ImageSkillError(ErrorCode.INVALID_ARGUMENTS, "Missing Stripe-Signature header.")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature, settings.stripe_webhook_secret, settings.webhook_tolerance_seconds
        )
        if _signed_at(signature) > time.time() + settings.webhook_tolerance_seconds:
            raise ImageSkillError(
                ErrorCode.INVALID_ARGUMENTS, "The webhook signature is dated in the future."
            )
        event = json.loads(text)
    except stripe.SignatureVerificationError:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS, "The webhook signature did not verify."
        ) from None
    except ValueError:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS, "The webhook body is not JSON."
        ) from None
    data = event.get("data", {}) if isinstance(event, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("object", {}), dict):
        # Signed, but not an event object (the handler reads data.object as a dict).
        raise ImageSkillError(ErrorCode.INVALID_ARGUMENTS, "The webhook body is not an event.")
    return event


def _signed_at(header: str) -> int:
    """The header's timestamp, read as the SDK reads it (the first ``t=``)."""
    items = [item.split("=", 2) for item in header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))
