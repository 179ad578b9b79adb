"""The public shapes of create and edit answers, built in one place.

A dry run, a finished job and a replayed key each answer with the same field
names wherever they overlap (``resolved``, ``cost``, ``quota``,
``input_asset``), so they are written once here rather than at each step.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from image_skill.contract.errors import ErrorCode
from image_skill.contract.ids import iso
from image_skill.providers.base import Model, Operation
from image_skill.service.assets.schemas import AssetUrls, asset_view
from image_skill.service.catalog import defaults
from image_skill.service.catalog.pricing import PriceEstimate
from image_skill.service.catalog.schemas import CAPABILITY_FOR_OPERATION
from image_skill.service.creative.accounting import QuotaSnapshot
from image_skill.service.creative.plan import Plan
from image_skill.service.db.models import Asset, Job
from image_skill.service.outcome import Outcome

REPLAYED = "Replayed: this idempotency key already produced this result."
STILL_RUNNING = "A request with this idempotency key is still running; poll jobs wait."
ACCEPTED = "Queued (Prefer: respond-async); wait for it with jobs wait."
STILL_WAITING = "The job did not finish within the server's wait limit; wait for it with jobs wait."


CreativeOutcome = Outcome[dict[str, Any]]


def resolved_view(
    aspect_ratio: str, output_format: str | None, intent: str | None, parameters: dict[str, Any]
) -> dict[str, Any]:
    """The ``resolved`` object: what the service settled on for the request."""
    return {
        "aspect_ratio": aspect_ratio,
        "output_format": output_format,
        "intent": intent,
        "model_parameters": parameters,
    }


def dry_run_view(
    plan: Plan, quota: QuotaSnapshot, credits_required: int, urls: AssetUrls
) -> dict[str, Any]:
    """A plan rendered: what would run, what it would cost, and what blocks it."""
    budget_refusal = plan.budget_refusal
    blockers = [e.code for e in (budget_refusal, quota.refusal) if e is not None]
    if not plan.availability.configured:
        blockers.append(ErrorCode.MODEL_NOT_CONFIGURED)
    return {
        "dry_run": True,
        "would_execute": not blockers,
        "blocked_by": blockers,
        "operation": plan.operation,
        "capability": {"id": CAPABILITY_FOR_OPERATION[plan.operation]},
        "model": {
            "model_id": plan.model_id,
            "availability": plan.availability.view(),
            "default_reason": plan.choice.view() if plan.choice else None,
        },
        "resolved": resolved_view(
            plan.aspect_ratio, plan.output_format, plan.intent, plan.parameters
        ),
        "cost": plan.price.view(),
        "budget": {
            "max_estimated_usd_per_image": plan.max_estimated_usd_per_image,
            "max_usd": plan.max_usd,
            "outcome": "refused" if budget_refusal else "within_budget",
            "refusal": budget_refusal.to_error() if budget_refusal else None,
        },
        "quota": {
            "outcome": "refused" if quota.refusal else "allowed",
            "refusal": quota.refusal.to_error() if quota.refusal else None,
            "credits_required": credits_required,
            "balance": quota.balance,
            "daily_cap": quota.daily_cap,
            "used_today": quota.used_today,
        },
        "safety": _safety(),
        "input_asset": asset_view(plan.input_asset, urls) if plan.input_asset else None,
        "changes": "none",
    }


def completed_view(
    job: Job,
    assets: list[Asset],
    *,
    cost: PriceEstimate,
    resolved: dict[str, Any],
    input_asset: Asset | None,
    balance_after: int,
    daily_cap: int | None,
    used_today: int,
    completed_at: datetime,
    urls: AssetUrls,
) -> dict[str, Any]:
    """A finished job with its stored assets and what it cost."""
    return {
        "job_id": job.id,
        "status": job.status,
        "operation": job.operation,
        "capability": {"id": job.capability_id},
        "model_id": job.model_id,
        "assets": [asset_view(asset, urls) for asset in assets],
        "cost": cost.view(),
        "safety": _safety(),
        "quota": {
            "credits_debited": job.credits_debited,
            "balance_after": balance_after,
            "daily_cap": daily_cap,
            "used_today": used_today,
        },
        "resolved": resolved,
        "input_asset": asset_view(input_asset, urls) if input_asset else None,
        "created_at": iso(job.created_at),
        "completed_at": iso(completed_at),
    }


def replayed(status_code: int, data: dict[str, Any]) -> CreativeOutcome:
    """The stored answer of a key's first request."""
    return Outcome(data, [REPLAYED], status_code=status_code)


def still_running(job_id: str | None, status: str) -> CreativeOutcome:
    """A key whose first request has not finished yet."""
    data = {"job_id": job_id, "status": status, "replayed": True}
    return Outcome(data, [STILL_RUNNING], status_code=202)


def with_stand_in_notice(
    outcome: CreativeOutcome, models: Mapping[str, Model], operation: Operation
) -> CreativeOutcome:
    """Say whether the answer's model is a stand-in; if so, warn and name how to get a real one.

    Applied to every create/edit answer that names its model (dry run, finished
    job, replay), so none reports a stand-in's image as the prompt's.
    """
    data = outcome.data
    model_id = data.get("model_id") or (data.get("model") or {}).get("model_id")
    model = models.get(model_id) if isinstance(model_id, str) else None
    if model is None:
        return outcome
    data["stand_in"] = model.stand_in
    for asset in data.get("assets") or []:
        asset["stand_in"] = model.stand_in
    if not model.stand_in:
        return outcome
    notice = defaults.stand_in_notice(models, model, operation)
    data["stand_in_notice"] = notice
    warnings = [*outcome.warnings, defaults.stand_in_warning(notice)]
    return Outcome(data, warnings, status_code=outcome.status_code)


def _safety() -> dict[str, Any]:
    return {"status": "allowed", "checks": ["service_prompt_policy"]}
