"""How many creative jobs each actor has counting against a UTC day's cap, kept by the database.

Counting an actor's jobs of today on every admission and answer read one index
entry and one row per job: an agent with thousands of jobs today paid for
each of them on its next create. Triggers on ``jobs`` (migration 0011) keep
this count in the statement that inserts a job or changes its status, so it
is right whatever code (or SQL) writes the job, and the daily cap is read
from one primary-key row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from image_skill.service.db.models import Base


class DailyJobCount(Base):
    """An actor's create and edit jobs of one UTC day that are queued, running or completed
    (a failed or canceled job stops counting): what the daily job cap compares with."""

    __tablename__ = "daily_job_counts"

    actor_id: Mapped[str] = mapped_column(String(64), ForeignKey("actors.id"), primary_key=True)
    # The UTC day of the jobs' created_at, as YYYY-MM-DD.
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    jobs: Mapped[int] = mapped_column(BigInteger)
