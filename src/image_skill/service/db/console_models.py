"""SQLAlchemy models of the web console: sign-in links and browser sessions.

Both hold only a keyed hash of their secret (the link token travels by email,
the session token lives in an HttpOnly cookie), so a database leak hands out
no way in. Sessions are rows rather than signed cookies so that signing out,
or an operator, can revoke one at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from image_skill.service.db.models import Base, Timestamp


class ConsoleSignInLink(Base):
    """A single-use emailed link that opens a console session for a verified human."""

    __tablename__ = "console_sign_in_links"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    human_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class ConsoleSession(Base):
    """A signed-in browser: a human acting for their organization until expiry or sign-out."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_human", "human_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    human_id: Mapped[str] = mapped_column(ForeignKey("actors.id"))
    email: Mapped[str] = mapped_column(String(320))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)
