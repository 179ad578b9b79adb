"""One create or edit, end to end: replay, plan, then dry run or admit and execute.

Each step lives in its own module (``plan``, ``admit``, ``execute``) and
hands the next plain data; this module only puts them in order. A key that
already has an answer replays before anything is planned, so a replay
answers the same even if the model has since changed; nothing is spent
before admission.
"""

from __future__ import annotations

from functools import partial

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.providers.base import Operation
from image_skill.service import idempotency
from image_skill.service.assets import repository as assets_repository
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative import accounting, responses
from image_skill.service.creative.admission import admit, credits_for, replay
from image_skill.service.creative.admission_gate import AdmissionPlace
from image_skill.service.creative.execute import Order, execute
from image_skill.service.creative.plan import CreativeRequest, fingerprint, make_plan
from image_skill.service.creative.responses import CreativeOutcome
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Asset
from image_skill.service.identity.principal import Principal
from image_skill.service.outcome import Outcome
from image_skill.service.runtime import Runtime
from image_skill.service.storage.base import StoreError


async def run_creative(
    runtime: Runtime,
    principal: Principal,
    operation: Operation,
    body: CreativeRequest,
    *,
    idempotency_key: str | None,
    trace_id: str,
    urls: AssetUrls,
    place: AdmissionPlace,
) -> CreativeOutcome:
    """Answer one create or edit (a replay, a dry run, or a finished job)."""
    key = idempotency.check_key(idempotency_key)
    request_fingerprint = fingerprint(runtime, operation, body)
    if key and not body.dry_run:
        replayed = await replay(runtime, principal, operation, key, request_fingerprint)
        if replayed is not None:
            return replayed
    plan = await make_plan(
        runtime,
        operation,
        body,
        idempotency_key=key,
        request_fingerprint=request_fingerprint,
        principal=principal,
        find_input=partial(owned_input, runtime, principal),
    )
    credits = credits_for(principal, plan)
    if plan.dry_run:
        async with session_scope(runtime.engine, write=False) as session:
            quota = await accounting.quota_snapshot(
                session, runtime.settings, principal, plan.price.credits_required
            )
        return Outcome(responses.dry_run_view(plan, quota, credits, urls))
    plan.raise_if_blocked()
    admitted = await admit(runtime, principal, plan, trace_id)
    if isinstance(admitted, Outcome):
        return admitted
    order = Order.of(plan, admitted.job_id, trace_id)
    return await execute(runtime, order, principal, urls, lend=place.lent)


async def owned_input(runtime: Runtime, principal: Principal, asset_id: str) -> tuple[Asset, bytes]:
    """An input asset of the caller's organization and its bytes."""
    async with session_scope(runtime.engine, write=False) as session:
        asset = await assets_repository.owned(session, principal.organization_id, asset_id)
    if asset is None:
        raise ImageSkillError(
            ErrorCode.NOT_FOUND,
            "No such input asset in your organization.",
            details={"field": "input_asset_id"},
            recovery={"suggested_command": "image-skill upload PATH_OR_URL --json"},
        )
    try:
        return asset, await runtime.store.get(asset.storage_key)
    except StoreError as exc:
        raise ImageSkillError(
            ErrorCode.ASSET_DOWNLOAD_FAILED,
            "The input asset's bytes are unavailable.",
            retryable=True,
        ) from exc
