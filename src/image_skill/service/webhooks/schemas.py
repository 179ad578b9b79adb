"""Request bodies and public shapes of the webhooks routes (never a secret's ciphertext):
the views that build the answers, then the models that describe them for OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from image_skill.contract.ids import iso
from image_skill.service.db.webhook_models import WebhookDelivery, WebhookEndpoint

EVENT_TYPES = ("job.completed", "job.failed", "job.canceled")


class WebhookSettingsRequest(BaseModel):
    """``PUT /v1/webhooks``: the organization's default URL (null clears it)."""

    model_config = ConfigDict(extra="forbid")

    # Bounded generously here; the target rules (2048 characters, https, public) come after.
    default_url: str | None = Field(max_length=4096)


def endpoint_view(endpoint: WebhookEndpoint | None) -> dict[str, Any]:
    """The organization's webhook settings: default URL and whether a secret exists."""
    return {
        "default_url": endpoint.default_url if endpoint else None,
        "signing_secret": {
            "exists": bool(endpoint and endpoint.secret_ciphertext),
            "created_at": iso(endpoint.secret_created_at) if endpoint else None,
        },
        "event_types": list(EVENT_TYPES),
        "signature_scheme": "standard-webhooks v1 (HMAC-SHA256)",
    }


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    """One delivery of the log (its payload stays with the receiver)."""
    return {
        "delivery_id": delivery.id,
        "webhook_id": delivery.id,
        "event_type": delivery.event_type,
        "job_id": delivery.job_id,
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
    }


class SigningSecretInfo(BaseModel):
    """Whether the organization has a signing secret (never the secret itself)."""

    exists: bool
    created_at: str | None


class WebhookSettings(BaseModel):
    """The organization's webhook settings, as ``endpoint_view`` builds them."""

    default_url: str | None
    signing_secret: SigningSecretInfo
    event_types: list[str]
    signature_scheme: str


class WebhooksShown(BaseModel):
    """``GET /v1/webhooks``."""

    webhooks: WebhookSettings


class WebhooksChanged(BaseModel):
    """``PUT /v1/webhooks`` and ``POST /v1/webhooks/secret``: the settings, and a new signing
    secret shown this once (``null`` when none was made)."""

    webhooks: WebhookSettings
    signing_secret: str | None = Field(examples=["whsec_..."])


class DeliveryView(BaseModel):
    """One delivery of the log."""

    delivery_id: str
    webhook_id: str
    event_type: str
    job_id: str
    url: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None


class DeliveryPage(BaseModel):
    """``GET /v1/webhooks/deliveries``: newest first; pass ``next_cursor`` for more."""

    deliveries: list[DeliveryView]
    next_cursor: str | None
