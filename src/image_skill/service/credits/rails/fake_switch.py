"""Whether the fake settlement rail is on, and what to say when it is not.

The fake rail grants credits for nothing, so it is off unless
``IMAGE_SKILL_FAKE_PAYMENTS_ENABLED=true``. Production refuses to start with it
on unless ``IMAGE_SKILL_ALLOW_FAKE_PAYMENTS_IN_PRODUCTION=true`` is also set
(``Settings``), and ``serve`` then logs a warning at every start. The one
default exception is embedded mode without a Stripe key: the service runs
inside the CLI on its owner's machine, no real money exists there, and its
credits only pay the owner's own local jobs. An explicit switch always wins.
"""

from __future__ import annotations

import logging

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.settings import Settings

log = logging.getLogger("image_skill.payments")

STRIPE_QUOTE = (
    "image-skill credits quote --pack starter-500 --payment-method stripe_checkout "
    "--idempotency-key KEY --json"
)


def fake_rail_enabled(settings: Settings) -> bool:
    """Whether fake purchases settle here: the explicit switch, else embedded without Stripe."""
    if settings.fake_payments_enabled is not None:
        return settings.fake_payments_enabled  # an explicit switch, embedded or not
    return settings.embedded and not settings.stripe_secret_key


def fake_rail_refusal(settings: Settings) -> ImageSkillError:
    """PAYMENT_PROVIDER_NOT_CONFIGURED for the fake rail, pointing at Stripe when it exists."""
    if settings.stripe_secret_key:
        return ImageSkillError(
            ErrorCode.PAYMENT_PROVIDER_NOT_CONFIGURED,
            "The fake settlement rail is disabled on this service; pay with Stripe Checkout.",
            recovery={"suggested_command": STRIPE_QUOTE},
        )
    return ImageSkillError(
        ErrorCode.PAYMENT_PROVIDER_NOT_CONFIGURED,
        "The fake settlement rail is disabled on this service and no payment provider is "
        "configured; ask its operator.",
    )


def production_warning(settings: Settings) -> str | None:
    """The start-up warning when production runs with the fake rail on (else None)."""
    if settings.environment != "production" or not fake_rail_enabled(settings):
        return None
    return (
        "WARNING: the fake settlement rail is ENABLED in production "
        "(IMAGE_SKILL_FAKE_PAYMENTS_ENABLED and IMAGE_SKILL_ALLOW_FAKE_PAYMENTS_IN_PRODUCTION "
        "are set): any agent can grant itself credits without paying."
    )


def warn_if_fake_in_production(settings: Settings) -> None:
    """Log ``production_warning`` when it applies (called at every server start)."""
    message = production_warning(settings)
    if message:
        log.warning(message)
