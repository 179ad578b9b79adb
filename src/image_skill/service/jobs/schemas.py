"""Public shape of a job (no prompt, no provider payloads, no storage keys)."""

from __future__ import annotations

from typing import Any

from image_skill.contract.ids import iso
from image_skill.service.assets.schemas import AssetUrls, asset_view
from image_skill.service.db.models import Asset, Job

TERMINAL = ("completed", "failed", "canceled")


def job_view(job: Job, assets: list[Asset], urls: AssetUrls) -> dict[str, Any]:
    """Status, timestamps, capability, cost, safety, assets and error of a job."""
    return {
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
        },
        "safety": {"status": job.safety_status},
        "assets": [asset_view(asset, urls) for asset in assets],
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
