"""SQLAlchemy models. Portable types only, so SQLite and PostgreSQL share one schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with named constraints (stable across databases)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


Timestamp = DateTime(timezone=True)


class Organization(Base):
    """A tenant: every asset, job and event belongs to exactly one."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class Actor(Base):
    """A human sponsor, an agent, a session or a system actor.

    An agent's ``sponsor_email`` is only what it asked to be claimed by; it proves
    nothing. ``sponsor_id`` names the human who confirmed a claim, and a human's
    ``verified_at`` is set by the first claim link they confirmed.
    """

    __tablename__ = "actors"
    __table_args__ = (Index("ix_actors_organization_id", "organization_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    runtime: Mapped[str | None] = mapped_column(String(100))
    sponsor_id: Mapped[str | None] = mapped_column(ForeignKey("actors.id"))
    sponsor_email: Mapped[str | None] = mapped_column(String(320))
    verified_at: Mapped[datetime | None] = mapped_column(Timestamp)
    claim_state: Mapped[str] = mapped_column(String(32))
    is_local_owner: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class Claim(Base):
    """An agent's request to be claimed by its sponsor, confirmed by a one-time emailed link.

    Only a keyed hash of the link's token is stored. ``state`` is pending,
    confirmed or superseded; a pending claim past ``expires_at`` reads as expired.
    """

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_agent_created", "agent_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    sponsor_email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    human_id: Mapped[str | None] = mapped_column(ForeignKey("actors.id"))
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    confirmed_at: Mapped[datetime | None] = mapped_column(Timestamp)


class ApiToken(Base):
    """A bearer token, stored only as a keyed hash; the raw value is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_actor_id", "actor_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(32))
    token_class: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class CreditLedgerEntry(Base):
    """One append-only movement of credits; a balance is the sum of its rows
    (kept summed in ``credit_accounts`` by a trigger)."""

    __tablename__ = "credit_ledger_entries"
    __table_args__ = (
        Index("ix_credit_ledger_entries_account", "actor_id", "created_at"),
        # An account's rows of one kind (today's debits, its grants) without its history.
        Index("ix_credit_ledger_entries_actor_kind", "actor_id", "kind", "created_at"),
        # The free-preview daily ceiling sums one reason's rows of one day.
        Index("ix_credit_ledger_entries_reason_created", "reason", "created_at"),
        UniqueConstraint("idempotency_scope", name="uq_credit_ledger_entries_scope"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(64))
    reference_id: Mapped[str | None] = mapped_column(String(64))
    # Guards "exactly once" movements (one signup grant, one debit per job …).
    idempotency_scope: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class Job(Base):
    """A creative operation (create, edit or upload) and its outcome.

    Prompts are never stored; ``request_hash`` is a keyed hash of the request
    used only to recognise idempotent replays.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_org_created", "organization_id", "created_at"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
        Index("ix_jobs_status_queued", "status", "queued_at"),
        # Daily caps count an actor's jobs of today; refusals list its failed ones.
        Index("ix_jobs_actor_created", "actor_id", "created_at"),
        Index("ix_jobs_actor_status", "actor_id", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    operation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    capability_id: Mapped[str | None] = mapped_column(String(100))
    model_id: Mapped[str | None] = mapped_column(String(100))
    provider: Mapped[str | None] = mapped_column(String(50))
    intent: Mapped[str | None] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    input_asset_id: Mapped[str | None] = mapped_column(String(160))
    trace_id: Mapped[str] = mapped_column(String(64))
    credits_reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_debited: Mapped[int] = mapped_column(BigInteger, default=0)
    estimated_usd: Mapped[float | None] = mapped_column(Float)
    pricing_confidence: Mapped[str | None] = mapped_column(String(16))
    safety_status: Mapped[str] = mapped_column(String(32), default="allowed")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    provider_request_id: Mapped[str | None] = mapped_column(String(200))
    usage_event_id: Mapped[str | None] = mapped_column(String(64))
    # Provider output kept when our store failed, so a repair needs no second call.
    spool_ref: Mapped[str | None] = mapped_column(String(300))
    # Where this job's completion webhook goes (else the organization's default, if any).
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The whole error object of a failed job (code, message, retryable, recovery,
    # details), so an answer read back from the row is the one the executor raised.
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Status runs queued -> running -> completed | failed | canceled.
    queued_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class Asset(Base):
    """An owned image: metadata here, bytes in the asset store under ``storage_key``."""

    __tablename__ = "assets"
    __table_args__ = (
        Index("ix_assets_org_created", "organization_id", "created_at"),
        Index("ix_assets_job_id", "job_id"),
    )

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    kind: Mapped[str] = mapped_column(String(16))
    mime_type: Mapped[str] = mapped_column(String(64))
    extension: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    content_length: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    source_kind: Mapped[str | None] = mapped_column(String(32))
    metadata_stripped: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class IdempotencyRecord(Base):
    """Binds an actor's idempotency key to one request and its first answer."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("actor_id", "scope", "key", name="uq_idempotency_records_actor_scope_key"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class CreditQuote(Base):
    """Bounded terms for buying credits; granting happens only through a receipt."""

    __tablename__ = "credit_quotes"
    __table_args__ = (
        UniqueConstraint("actor_id", "idempotency_key", name="uq_credit_quotes_actor_key"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    credits: Mapped[int] = mapped_column(Integer)
    price_amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    payment_method: Mapped[str] = mapped_column(String(32))
    pack_id: Mapped[str | None] = mapped_column(String(32))
    live_money: Mapped[bool] = mapped_column(default=False)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class PaymentAttempt(Base):
    """One try at paying a quote through an external provider (Stripe Checkout)."""

    __tablename__ = "payment_attempts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("credit_quotes.id"), unique=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(String(2000))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    last_provider_event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class Receipt(Base):
    """Proof that a quote was paid; at most one per quote, which makes grants exactly-once."""

    __tablename__ = "receipts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("credit_quotes.id"), unique=True)
    payment_attempt_id: Mapped[str | None] = mapped_column(ForeignKey("payment_attempts.id"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    credits: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    payment_method: Mapped[str] = mapped_column(String(32))
    live_money: Mapped[bool] = mapped_column(default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    credit_event_id: Mapped[str] = mapped_column(String(64))
    provider_event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class ProviderEvent(Base):
    """A verified webhook event, stored once by its provider id (replays are no-ops)."""

    __tablename__ = "provider_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(100))
    checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(Timestamp)


class ActivityEvent(Base):
    """One entry of the organization's activity ledger (registry types only)."""

    __tablename__ = "activity_events"
    __table_args__ = (
        Index("ix_activity_events_org_id", "organization_id", "id"),
        Index("ix_activity_events_subject", "subject_id"),
        Index("ix_activity_events_trace", "trace_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("actors.id"))
    type: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(160))
    operation: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(32))
    cost: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    links: Mapped[dict[str, Any]] = mapped_column(JSON)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)


class Feedback(Base):
    """Structured product feedback; repeats with the same ``dedupe_key`` merge into one."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("organization_id", "dedupe_key", name="uq_feedback_org_dedupe_key"),
        Index("ix_feedback_next_state", "next_state", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(String(8000))
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[str] = mapped_column(String(16))
    next_state: Mapped[str] = mapped_column(String(32))
    command: Mapped[str | None] = mapped_column(String(1000))
    expected: Mapped[str | None] = mapped_column(String(4000))
    actual: Mapped[str | None] = mapped_column(String(4000))
    friction: Mapped[str | None] = mapped_column(String(4000))
    proof_needed: Mapped[str | None] = mapped_column(String(4000))
    strategic_reason: Mapped[str | None] = mapped_column(String(4000))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(100))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    surface: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[list[str]] = mapped_column(JSON)
    quality_warnings: Mapped[list[str]] = mapped_column(JSON)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    triage_note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class ActivityRef(Base):
    """One id an activity event refers to (subject, trace or link), for portable lookups.

    ``activity show job_…`` and ``activity list --subject`` read this index
    instead of searching the JSON links, so they are fast on SQLite and
    PostgreSQL alike.
    """

    __tablename__ = "activity_refs"
    __table_args__ = (Index("ix_activity_refs_org_ref", "organization_id", "ref", "event_id"),)

    event_id: Mapped[str] = mapped_column(ForeignKey("activity_events.id"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))


# Other tables live in their own modules; importing them here completes Base.metadata.
from image_skill.service.db import console_models as _console_models  # noqa: E402, F401
from image_skill.service.db import credit_models as _credit_models  # noqa: E402, F401
from image_skill.service.db import job_models as _job_models  # noqa: E402, F401
from image_skill.service.db import quota_models as _quota_models  # noqa: E402, F401
from image_skill.service.db import webhook_models as _webhook_models  # noqa: E402, F401
