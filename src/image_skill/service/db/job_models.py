"""The order of a queued job: what its executor needs and the job row must not hold.

Prompts are never stored on the job row (privacy), yet a job admitted by one
process may run in another. The order carries the prompt and the resolved
request from admission to the executor, and is deleted in the same
transaction that makes the job terminal, so a prompt lives in the database
only while its job is waiting or running.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from image_skill.service.db.models import Base, Timestamp


class JobOrder(Base):
    """One admitted, not yet terminal job's request (prompt, parameters, price, key)."""

    __tablename__ = "job_orders"

    job_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
