"""One create or edit, end to end: replay, plan, then dry run or admit and answer.

Each step lives in its own module (``plan``, ``admit``, ``execute``) and
hands the next plain data; this module only puts them in order. A key that
already has an answer replays before anything is planned, so a replay
answers the same even if the model has since changed; nothing is spent
before admission.

After admission the job runs wherever the executor runs it: in this request
(embedded CLI), or elsewhere (the server's task group, a worker process).
Then the request waits for it server-side (``jobs.waiter``, no polling loop)
up to ``create_wait_seconds`` and answers as a synchronous create always has:
201 with the completed job (handed over by the settling transaction when this
process ran it, else read back), or the job's error. With ``Prefer: respond-async``
it answers 202 with the queued job at once; past the wait limit, 202 with the
job as it is and how to wait for the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from image_skill.contract.errors import ErrorCode, ImageSkillError, not_found
from image_skill.providers.base import Operation
from image_skill.service import idempotency, telemetry
from image_skill.service.assets import repository as assets_repository
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative import accounting, responses
from image_skill.service.creative.admission import Admitted, admit, credits_for, replay
from image_skill.service.creative.admission_gate import AdmissionPlace
from image_skill.service.creative.answer import answer_of_job, ended_here, take_settled
from image_skill.service.creative.plan import CreativeRequest, fingerprint, make_plan
from image_skill.service.creative.responses import CreativeOutcome
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Asset, Job
from image_skill.service.identity.principal import Principal
from image_skill.service.jobs import executor
from image_skill.service.jobs import repository as jobs_repository
from image_skill.service.jobs.schemas import job_view
from image_skill.service.jobs.waiter import wait_until_terminal
from image_skill.service.outcome import Outcome
from image_skill.service.quota.refusals import record_refusal
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
    respond_async: bool = False,
) -> CreativeOutcome:
    """Answer one create or edit (a replay, a dry run, a finished job, or a queued one)."""
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
    try:
        plan.raise_if_blocked()
        admitted = await admit(runtime, principal, plan, trace_id, urls.base)
    except ImageSkillError as error:
        # Budget, cap and balance refusals stay listable (quota/refusals.py).
        await record_refusal(runtime, principal, plan, trace_id, error)
        raise
    if isinstance(admitted, Outcome):
        return admitted
    if runtime.settings.resolved_job_executor == "inline":
        # The embedded CLI's process ends with the request: the job runs here, now.
        return await _run_inline(runtime, admitted, principal, urls, place)
    if respond_async:
        return await _queued_answer(runtime, admitted.job_id, urls, async_requested=True)
    wait = runtime.settings.create_wait_seconds
    async with place.lent():
        finished = await wait_until_terminal(
            admitted.job_id, wait, _status_reader(runtime, admitted)
        )
    if not finished:
        return await _queued_answer(runtime, admitted.job_id, urls, async_requested=False)
    settled = take_settled(admitted.job_id)
    if settled is not None:  # settled in this process: its answer, handed over on commit
        telemetry.annotate(outputs=len(settled["assets"]))
        return Outcome(settled, status_code=201)
    return await _answer(runtime, admitted, principal, urls)


async def _run_inline(
    runtime: Runtime,
    admitted: Admitted,
    principal: Principal,
    urls: AssetUrls,
    place: AdmissionPlace,
) -> CreativeOutcome:
    """Run the job admission already claimed for this request (embedded CLI)."""
    outcome = await executor.run_claimed(runtime, admitted.order, principal, urls, lend=place.lent)
    if outcome is not None:
        return outcome
    # Canceled (or taken over) before it could finish: answer what the job says.
    return await _answer(runtime, admitted, principal, urls)


async def _answer(
    runtime: Runtime, admitted: Admitted, principal: Principal, urls: AssetUrls
) -> CreativeOutcome:
    """A terminal job's answer: 201 with the completed job, or its error raised."""
    async with session_scope(runtime.engine, write=False) as session:
        job = await session.get(Job, admitted.job_id)
        assert job is not None
        data = await answer_of_job(session, runtime.settings, admitted.order, principal, job, urls)
    # The job may have run in another process: the call's event still says what it made.
    telemetry.annotate(outputs=len(data["assets"]))
    return Outcome(data, status_code=201)


def _status_reader(runtime: Runtime, admitted: Admitted) -> Callable[[], Awaitable[str | None]]:
    """The waiter's read of a just-admitted job's status.

    How the job ended in this process comes from the hand-over, without a read.
    When this process runs the job (the in-process executor, or a slot the
    admission claimed it for on PostgreSQL) the first read is skipped as well:
    the job was just admitted, and its end here, even before the waiter is
    registered, is seen through the hand-over; only an end by another path (a
    cancel, crash recovery) waits for the waiter's periodic re-read.
    """
    job_id = admitted.job_id
    in_process = admitted.runs_here or runtime.settings.resolved_job_executor == "inprocess"
    reads = 0

    async def read() -> str | None:
        nonlocal reads
        reads += 1
        ended = ended_here(job_id)
        if ended is not None:
            return ended
        if in_process and reads == 1:
            return "queued"
        async with session_scope(runtime.engine, write=False) as session:
            return await jobs_repository.status_of(session, job_id)

    return read


async def _queued_answer(
    runtime: Runtime, job_id: str, urls: AssetUrls, *, async_requested: bool
) -> CreativeOutcome:
    """202: the job as it is now, and how to wait for the rest."""
    async with session_scope(runtime.engine, write=False) as session:
        job = await session.get(Job, job_id)
        assert job is not None
        data = job_view(job, [], urls)
        data["queue_position"] = await jobs_repository.queue_position(session, job)
    data["recovery"] = {"suggested_command": f"image-skill jobs wait {job_id} --json"}
    warning = responses.ACCEPTED if async_requested else responses.STILL_WAITING
    return Outcome(data, [warning], status_code=202)


async def owned_input(runtime: Runtime, principal: Principal, asset_id: str) -> tuple[Asset, bytes]:
    """An input asset of the caller's organization and its bytes."""
    async with session_scope(runtime.engine, write=False) as session:
        asset = await assets_repository.owned(session, principal.organization_id, asset_id)
    if asset is None:
        raise not_found(
            "No such input asset in your organization.",
            suggested_command="image-skill upload PATH_OR_URL --json",
            field="input_asset_id",
        )
    try:
        return asset, await runtime.store.get(asset.storage_key)
    except StoreError as exc:
        raise ImageSkillError(
            ErrorCode.ASSET_DOWNLOAD_FAILED,
            "The input asset's bytes are unavailable.",
            retryable=True,
        ) from exc
