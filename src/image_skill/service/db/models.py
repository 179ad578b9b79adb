"""SQLAlchemy models. Portable types only, so SQLite and PostgreSQL share one schema."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
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
    """A human sponsor, an agent, a session or a system actor."""

    __tablename__ = "actors"
    __table_args__ = (
        UniqueConstraint("sponsor_id", "name", name="uq_actors_sponsor_name"),
        Index("ix_actors_organization_id", "organization_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    actor_type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    runtime: Mapped[str | None] = mapped_column(String(100))
    sponsor_id: Mapped[str | None] = mapped_column(ForeignKey("actors.id"))
    claim_state: Mapped[str] = mapped_column(String(32))
    is_local_owner: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


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
    """One append-only movement of credits; a balance is the sum of its rows."""

    __tablename__ = "credit_ledger_entries"
    __table_args__ = (
        Index("ix_credit_ledger_entries_account", "actor_id", "created_at"),
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
