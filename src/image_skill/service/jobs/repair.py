"""Deliver the images of jobs that were generated but could not be stored.

When the asset store fails after a provider already made (and billed) an
image, the pipeline keeps the bytes under ``<home>/spool/<job_id>/`` and fails
the job with ``ARTIFACT_STORAGE_WRITE_FAILED``, releasing its credits. Repair
stores those bytes, attaches them to the job and completes it, so the agent
gets the image it asked for without a second provider call and without a
charge (it was told none was made). A server repairs what it can at start-up;
``image-skill admin jobs repair`` does it on demand.
"""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path
from typing import Any

import anyio
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from image_skill.contract.errors import conflict, not_found
from image_skill.contract.ids import utc_now
from image_skill.imaging.acceptance import sniff_mime
from image_skill.providers.base import GeneratedImage
from image_skill.service.activity.creative_events import job_succeeded
from image_skill.service.creative.outputs import store_output
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Asset, Job
from image_skill.service.storage.base import AssetStore, StoreError

REPAIRED = "repaired"
STILL_FAILING = "store_still_failing"
SPOOL_MISSING = "spool_missing"

log = logging.getLogger("image_skill.jobs.repair")


def spool_folder(home: Path, job_id: str) -> Path:
    """Where the pipeline spooled ``job_id``'s outputs (see storage.spool)."""
    return home / "spool" / job_id


def _read_spool(folder: Path) -> list[GeneratedImage] | None:
    """The spooled images in output order, or None when they are gone or unreadable."""
    files = sorted(
        (path for path in folder.glob("*.*") if path.stem.isdigit()), key=lambda p: int(p.stem)
    )
    images = []
    for path in files:
        try:
            data = path.read_bytes()
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
        except (UnidentifiedImageError, OSError):
            return None
        images.append(GeneratedImage(data, sniff_mime(data) or "image/png", width, height))
    return images or None


async def repairable_job_ids(engine: AsyncEngine, job_id: str | None = None) -> list[str]:
    """Failed jobs with spooled output (just ``job_id``'s, when given: it must be one)."""
    query = select(Job.id).where(Job.status == "failed", Job.spool_ref.is_not(None))
    if job_id is not None:
        query = query.where(Job.id == job_id)
    async with session_scope(engine, write=False) as session:
        ids = list((await session.execute(query.order_by(Job.created_at))).scalars())
        if job_id is not None and not ids:
            exists = await session.get(Job, job_id)
            if exists is None:
                raise not_found(f"No job {job_id}.")
            raise conflict(
                f"Job {job_id} has no spooled output to repair (status {exists.status}).",
                suggested_command=f"image-skill jobs show {job_id} --json",
            )
    return ids


async def repair_job(engine: AsyncEngine, store: AssetStore, home: Path, job_id: str) -> str:
    """Store one job's spooled output and complete the job; returns the outcome."""
    folder = spool_folder(home, job_id)
    images = await anyio.to_thread.run_sync(_read_spool, folder)
    if images is None:
        return SPOOL_MISSING
    async with session_scope(engine, write=True) as session:
        job = await session.get(Job, job_id, with_for_update=True)
        if job is None or job.status != "failed" or job.spool_ref is None:
            return REPAIRED  # another process repaired it meanwhile
        try:
            assets: list[Asset] = [await store_output(store, job, image) for image in images]
        except StoreError:
            return STILL_FAILING
        now = utc_now()
        session.add_all(assets)
        job.status = "completed"
        job.error_code = None
        job.error_message = None
        job.spool_ref = None
        job.completed_at = now
        job.updated_at = now
        await session.flush()
        await job_succeeded(session, job, assets)
    await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
    return REPAIRED


async def repair_spooled_jobs(
    engine: AsyncEngine, store: AssetStore, home: Path, job_id: str | None = None
) -> dict[str, Any]:
    """Repair every repairable job (or one); counts and per-job outcomes."""
    outcomes = {
        repairable: await repair_job(engine, store, home, repairable)
        for repairable in await repairable_job_ids(engine, job_id)
    }
    counts = {name: 0 for name in (REPAIRED, STILL_FAILING, SPOOL_MISSING)}
    for outcome in outcomes.values():
        counts[outcome] += 1
    return {"jobs": [{"job_id": k, "outcome": v} for k, v in outcomes.items()], **counts}


async def repair_at_start(engine: AsyncEngine, store: AssetStore, home: Path) -> None:
    """Repair this machine's spool as a process starts (API or worker), logging counts."""
    repaired = await repair_spooled_jobs(engine, store, home)
    if repaired["jobs"]:
        log.warning(
            "spooled jobs at start-up: %d repaired, %d store still failing, %d spool missing",
            repaired["repaired"],
            repaired["store_still_failing"],
            repaired["spool_missing"],
        )
