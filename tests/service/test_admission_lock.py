"""``accounting.lock_for_admission`` on PostgreSQL: one call that locks the account and
then reads its quota as committed when the lock was granted.

Two transactions race for one account: the first holds the lock and spends
credits and a job of the day; the second asks while it holds them, must wait,
and must then read what the first committed (read in the lock's own snapshot,
it would see the figures from before its wait, and admit a job the account
can no longer pay for). Both transactions go through the service's own call.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.creative import accounting
from image_skill.service.credits import ledger
from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.db.models import Job
from image_skill.service.identity.principal import Principal
from image_skill.service.settings import Settings
from tests.support.ledger import new_account


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_quota_read_waits_for_the_lock_and_sees_its_holder(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    settings = Settings(database_url=database_url, home=tmp_path / "home", environment="test")
    upgrade_to_head(settings)
    org_id, actor_id = new_account(db, "raced")
    agent = Principal(actor_id, "agent", org_id, "unclaimed", "restricted")

    async def holder(
        engine: AsyncEngine, locked: asyncio.Event, release: asyncio.Event
    ) -> tuple[int, int]:
        async with session_scope(engine, write=True) as session:
            seen = await accounting.lock_for_admission(session, agent)
            locked.set()
            now = utc_now()
            session.add(
                Job(
                    id=new_id("job"),
                    organization_id=org_id,
                    actor_id=actor_id,
                    operation="create",
                    status="queued",
                    trace_id="trace_raced",
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            await _move(session, org_id, actor_id, ledger.DEBIT, -4)
            await release.wait()
        return seen

    async def waiter(engine: AsyncEngine, locked: asyncio.Event) -> tuple[tuple[int, int], float]:
        await locked.wait()
        async with session_scope(engine, write=True) as session:
            started = time.monotonic()
            seen = await accounting.lock_for_admission(session, agent)
            return seen, time.monotonic() - started

    async def race() -> tuple[tuple[int, int], tuple[tuple[int, int], float]]:
        engine = create_engine_for(settings)
        try:
            async with session_scope(engine, write=True) as session:
                await _move(session, org_id, actor_id, ledger.GRANT, 10)
            locked, release = asyncio.Event(), asyncio.Event()
            first = asyncio.create_task(holder(engine, locked, release))
            second = asyncio.create_task(waiter(engine, locked))
            await locked.wait()
            await asyncio.sleep(0.3)
            assert not second.done()  # it waits for the lock
            release.set()
            return await first, await second
        finally:
            await engine.dispose()

    first, (second, waited) = asyncio.run(race())
    assert first == (0, 10)
    assert waited >= 0.25
    assert second == (1, 6)  # the holder's job and debit, committed while it waited


async def _move(session: AsyncSession, org_id: str, actor_id: str, kind: str, amount: int) -> None:
    await ledger.append_raw(
        session,
        organization_id=org_id,
        actor_id=actor_id,
        kind=kind,
        amount=amount,
        reason=f"test_{kind}",
        scope=f"{kind}:{actor_id}",
    )
