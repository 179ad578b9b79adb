"""Run a callback once a session's transaction commits, never when it rolls back.

Work that must start only if the rows describing it exist (an in-process job
start, a waiter's wake-up) is registered here inside the transaction; a
rolled-back or retried transaction drops what it registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_KEY = "image_skill_after_commit"


def on_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Call ``callback`` (quick, synchronous) right after ``session`` commits."""
    session.sync_session.info.setdefault(_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_callbacks(sync_session: Any) -> None:
    for callback in sync_session.info.pop(_KEY, ()):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_callbacks(sync_session: Any) -> None:
    sync_session.info.pop(_KEY, None)
