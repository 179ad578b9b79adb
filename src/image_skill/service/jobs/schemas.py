"""Public shape of a job (no prompt, no provider payloads, no storage keys)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from image_skill.contract.ids import iso
from image_skill.service.assets.schemas import AssetUrls, AssetView, asset_view
from image_skill.service.catalog.pricing import CREDIT_UNIT_USD
from image_skill.service.db.models import Asset, Job

TERMINAL = ("completed", "failed", "canceled")


def job_view(
    job: Job, assets: list[Asset], urls: AssetUrls, *, stand_in: bool | None = None
) -> dict[str, Any]:
    """Status, timestamps, capability, cost, safety, assets and error of a job
    (and, when the caller knows its model, whether that model is a stand-in)."""
    asset_views = [asset_view(asset, urls) for asset in assets]
    if stand_in is not None:
        for made in asset_views:  # as the create answer marks the assets it made
            made["stand_in"] = stand_in
    view: dict[str, Any] = {
        "job_id": job.id,
        "status": job.status,
        "terminal": job.status in TERMINAL,
        "operation": job.operation,
        "capability": {"id": job.capability_id} if job.capability_id else None,
        "model_id": job.model_id,
        "intent": job.intent,
        "trace_id": job.trace_id,
        "input_asset_id": job.input_asset_id,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "cost": {
            "estimated_usd": job.estimated_usd,
            "pricing_confidence": job.pricing_confidence,
            "credits_reserved": job.credits_reserved,
            "credits_debited": job.credits_debited,
            "charged_usd": round(job.credits_debited * CREDIT_UNIT_USD, 6),
        },
        "safety": {"status": job.safety_status},
        "assets": asset_views,
        "error": (
            {
                "code": job.error_code,
                "message": job.error_message,
                "repairable": job.spool_ref is not None,
            }
            if job.error_code
            else None
        ),
    }
    if stand_in is not None:
        view["stand_in"] = stand_in
    return view


class JobCapability(BaseModel):
    """The capability a job ran under."""

    id: str


class JobCost(BaseModel):
    """What a job was estimated at, held and charged."""

    estimated_usd: float | None
    pricing_confidence: str | None
    credits_reserved: int
    credits_debited: int
    charged_usd: float = Field(
        description="What the job charged: credits_debited x credit_unit_usd "
        "(estimated_usd is the provider's own cost)."
    )


class JobSafety(BaseModel):
    """The safety verdict on a job."""

    status: str


class JobError(BaseModel):
    """Why a job failed (``repairable``: its output waits in the spool)."""

    code: str
    message: str | None
    repairable: bool


class JobView(BaseModel):
    """The public form ``job_view`` builds."""

    job_id: str
    status: Literal["queued", "running", "completed", "failed", "canceled"]
    terminal: bool
    operation: str
    capability: JobCapability | None
    model_id: str | None
    intent: str | None
    trace_id: str | None
    input_asset_id: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    cost: JobCost
    safety: JobSafety
    assets: list[AssetView]
    error: JobError | None
    stand_in: bool | None = Field(
        default=None,
        description="True when the job's model is a stand-in that does not follow the "
        "prompt (local.sketch, local.transform); see models list for real models.",
    )


class JobDetail(JobView):
    """One job as ``jobs show`` and ``jobs wait`` answer it: with where it stands."""

    progress: dict[str, Any] | None = Field(
        default=None,
        description="Queued: its queue_position; running: provider status, attempts and "
        "lease; null once terminal.",
    )


class JobShown(BaseModel):
    """``GET /v1/jobs/{job_id}`` (and its long-poll ``wait``)."""

    job: JobDetail


class JobCancel(BaseModel):
    """``POST /v1/jobs/{job_id}/cancel``: what the cancel did, and the job as it now is."""

    cancel: Literal["canceled", "cancel_requested", "already_terminal"]
    job: JobView


class JobPage(BaseModel):
    """``GET /v1/jobs``: newest first; pass ``next_cursor`` back for the next page."""

    jobs: list[JobView]
    next_cursor: str | None
