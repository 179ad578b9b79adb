"""SQLAlchemy models of outbound completion webhooks (kept apart from models.py's core tables).

A delivery is a row rather than only a queue message so that its retries
survive restarts, the same ``webhook-id`` is sent on every attempt, and the
organization can read its delivery log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from image_skill.service.db.models import Base, Timestamp


class WebhookEndpoint(Base):
    """An organization's webhook settings: default URL and its signing secret (encrypted)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), unique=True)
    default_url: Mapped[str | None] = mapped_column(String(2048))
    # ``whsec_…`` encrypted with the server's webhook key; never stored in the clear.
    secret_ciphertext: Mapped[str | None] = mapped_column(String(512))
    secret_created_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class WebhookDelivery(Base):
    """One event for one URL; ``status`` is pending, delivered or failed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_org_created", "organization_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    url: Mapped[str] = mapped_column(String(2048))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # Short and secret-free: an HTTP status line or a transport error class.
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
