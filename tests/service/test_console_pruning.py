"""Ended console sign-in links and sessions are deleted a day after their end.

Nothing reads them after they end, so without pruning a flood of sign-in requests
(or years of sign-ins) would only grow the tables. The sweeper prunes them at
start and every hour, a batch per transaction; a live session is never touched.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, update

from image_skill.contract.ids import utc_now
from image_skill.service.console import sessions
from image_skill.service.db.console_models import ConsoleSession, ConsoleSignInLink
from image_skill.service.jobs import sweeper
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import sign_up
from tests.support.apps import started_app
from tests.support.console import claim, sign_in

EMAIL = "owner@example.com"


def _counts(database_url: str) -> tuple[int, int]:
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with engine.connect() as connection:
            links = connection.scalar(select(func.count()).select_from(ConsoleSignInLink))
            live = connection.scalar(select(func.count()).select_from(ConsoleSession))
        return int(links or 0), int(live or 0)
    finally:
        engine.dispose()


def _age(database_url: str, *, days: float) -> None:
    """Move every link's and session's end ``days`` into the past, but the newest session's."""
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    past = utc_now() - timedelta(days=days)
    try:
        with engine.begin() as connection:
            newest = connection.scalar(
                select(ConsoleSession.id).order_by(ConsoleSession.created_at.desc()).limit(1)
            )
            connection.execute(update(ConsoleSignInLink).values(expires_at=past))
            connection.execute(
                update(ConsoleSession).where(ConsoleSession.id != newest).values(expires_at=past)
            )
    finally:
        engine.dispose()


def test_the_sweeper_prunes_ended_links_and_sessions_in_batches(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "service-home"
    monkeypatch.setattr(sessions, "PRUNE_BATCH", 2)  # three sign-ins: two batches each
    with started_app(database_url, home, mail_backend="outbox") as client:
        agent = sign_up(client, EMAIL, "painter")
        claim(client, agent, home)
        for _ in range(3):
            sign_in(client, EMAIL, home)
        assert _counts(database_url) == (3, 3)
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert client.portal is not None

        _age(database_url, days=0.5)  # ended, but less than a day ago: kept
        client.portal.call(sweeper._prune_logged, runtime)
        assert _counts(database_url) == (3, 3)

        _age(database_url, days=2)
        client.portal.call(sweeper._prune_logged, runtime)
        assert _counts(database_url) == (0, 1)  # the live session stays
        page = client.get("/console")  # the live session still signs its browser in
        assert page.status_code == 200 and "Sign out" in page.text

        _revoke_all(database_url, days=2)  # signed out two days ago, not yet expired
        client.portal.call(sweeper._prune_logged, runtime)
        assert _counts(database_url) == (0, 0)


def _revoke_all(database_url: str, *, days: float) -> None:
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with engine.begin() as connection:
            revoked = utc_now() - timedelta(days=days)
            connection.execute(update(ConsoleSession).values(revoked_at=revoked))
    finally:
        engine.dispose()
