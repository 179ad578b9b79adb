"""The create/edit pipeline.

Checks run in a fixed order so an agent always learns the cheapest thing to
fix first: arguments -> model -> model_parameters -> policy -> budget ->
quota -> provider -> storage. Nothing is spent before the quota step; the
quota step reserves credits in the same transaction that admits the job; the
provider runs outside any transaction; the debit happens only after the
assets are stored, and every failure after admission releases the reservation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ImageSkillError, invalid_arguments
from image_skill.contract.ids import iso, new_id, utc_now
from image_skill.providers.base import GeneratedImage, GenerationRequest, Model
from image_skill.service import telemetry
from image_skill.service.activity import creative_events
from image_skill.service.assets.schemas import AssetUrls, asset_view
from image_skill.service.catalog.parameters import validate_parameters
from image_skill.service.catalog.pricing import Quote, quote
from image_skill.service.catalog.schemas import CAPABILITY_FOR_OPERATION
from image_skill.service.creative import accounting, idempotency
from image_skill.service.creative.admission import AdmissionPlace
from image_skill.service.creative.outputs import store_output
from image_skill.service.creative.schemas import CreateRequest, EditRequest
from image_skill.service.credits import ledger
from image_skill.service.db.engine import in_transaction, session_scope
from image_skill.service.db.models import Asset, IdempotencyRecord, Job
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.service import creative_jobs_since, daily_job_cap, utc_day_bounds
from image_skill.service.redacted_traceback import redacted_traceback
from image_skill.service.runtime import Runtime
from image_skill.service.storage.base import StoreError
from image_skill.service.storage.spool import spool_outputs

log = logging.getLogger("image_skill.creative")


@dataclass
class Outcome:
    """What a creative route answers."""

    status_code: int
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class _KeyTaken(Exception):
    """Another request claimed the same idempotency key first."""


class CreativePipeline:
    """Runs one create or edit for one principal."""

    def __init__(
        self,
        runtime: Runtime,
        principal: Principal,
        trace_id: str,
        urls: AssetUrls,
        admission: AdmissionPlace,
    ) -> None:
        self.rt = runtime
        self.principal = principal
        self.trace_id = trace_id
        self.urls = urls
        self.admission = admission

    async def run(
        self, operation: str, body: CreateRequest | EditRequest, idempotency_key: str | None
    ) -> Outcome:
        """Validate, plan, and (unless a dry run) execute the request."""
        key = idempotency.check_key(idempotency_key)
        fingerprint = idempotency.request_hash(
            operation, body.model_dump(mode="json"), self.rt.settings.token_pepper
        )
        if key and not body.dry_run:
            replay = await self._replay(operation, key, fingerprint)
            if replay is not None:
                return replay
        model = self._model(operation, body)
        params = validate_parameters(model, body.model_parameters)
        model.check_request(operation, body.prompt, params)  # type: ignore[arg-type]
        output_format = self._output_format(model, body)
        aspect_ratio = self._aspect_ratio(model, body)
        self.rt.prompt_policy.check(body.prompt)
        priced = quote(model, params, self.rt.pricing)
        telemetry.annotate(credits=priced.credits_required, dry_run=body.dry_run)
        budget_refusal = _budget_refusal(priced, body)
        input_asset, input_bytes = await self._input(body)
        if body.dry_run:
            return await self._plan(
                operation,
                model,
                body,
                params,
                priced,
                budget_refusal,
                aspect_ratio,
                output_format,
                input_asset,
            )
        if budget_refusal is not None:
            raise budget_refusal
        availability = model.availability()
        if not availability.configured:
            how_to_enable = availability.view()["how_to_enable"]
            raise ImageSkillError(
                "MODEL_NOT_CONFIGURED",
                f"{model.model_id} is not configured on this service"
                + (f": {how_to_enable}." if how_to_enable else "."),
                details={
                    "missing_env": list(availability.missing_env),
                    "how_to_enable": how_to_enable,
                },
                recovery={"suggested_command": f"image-skill models show {model.model_id} --json"},
            )
        try:
            job = await self._admit(
                operation, model, body, params, priced, input_asset, key, fingerprint
            )
        except _KeyTaken:
            replay = await self._replay(operation, key or "", fingerprint)
            if replay is None:
                raise ImageSkillError(
                    "CONFLICT",
                    "A concurrent request with this idempotency key just failed; retry it.",
                    retryable=True,
                    recovery={"retry_after_seconds": 1},
                ) from None
            return replay
        telemetry.annotate(job_id=job.id)
        request = GenerationRequest(
            operation=operation,  # type: ignore[arg-type]
            prompt=body.prompt,
            parameters=params,
            width=None,
            height=None,
            aspect_ratio=aspect_ratio,
            output_format=output_format,
            input_images=(input_bytes,) if input_bytes is not None else (),
            job_id=job.id,
            record_provider_request=self._provider_request_recorder(job.id),
        )
        async with self.admission.lent():
            images = await self._generate(model, request, job, key)
        assets = await self._store(job, images, key)
        return await self._complete(
            job, assets, priced, body, params, aspect_ratio, output_format, input_asset, key
        )

    # -- validation -----------------------------------------------------------

    def _model(self, operation: str, body: CreateRequest | EditRequest) -> Model:
        settings = self.rt.settings
        default = (
            settings.default_create_model
            if operation == "create"
            else (settings.default_edit_model)
        )
        model_id = body.model or default
        model = self.rt.models.get(model_id)
        if model is None:
            raise ImageSkillError(
                "MODEL_NOT_FOUND",
                f"No model '{model_id}'.",
                details={"field": "model"},
                recovery={"suggested_command": "image-skill models list --json"},
            )
        if body.provider and body.provider != model.provider:
            raise invalid_arguments(
                f"Model {model.model_id} is served by provider '{model.provider}'.",
                field="provider",
            )
        if operation not in model.operations:
            raise invalid_arguments(
                f"Model {model.model_id} does not support {operation}; "
                f"it supports: {', '.join(model.operations)}.",
                field="model",
            )
        if body.intent and body.intent not in model.intents:
            raise invalid_arguments(
                f"Model {model.model_id} does not take intent '{body.intent}'.", field="intent"
            )
        return model

    def _output_format(self, model: Model, body: CreateRequest | EditRequest) -> str | None:
        fmt = body.output.format if body.output else None
        if fmt == "jpg":
            fmt = "jpeg"
        if fmt is not None and fmt not in model.output_formats:
            raise invalid_arguments(
                f"Model {model.model_id} writes {', '.join(model.output_formats)}, not {fmt}.",
                field="output.format",
            )
        return fmt

    def _aspect_ratio(self, model: Model, body: CreateRequest | EditRequest) -> str:
        ratio = body.aspect_ratio.strip()
        if ratio in model.aspect_ratios or (ratio == "auto" and "auto" in model.aspect_ratios):
            return ratio
        if ratio == "auto" and isinstance(body, CreateRequest):
            return model.aspect_ratios[0]
        raise invalid_arguments(
            f"Model {model.model_id} supports aspect ratios: {', '.join(model.aspect_ratios)}.",
            field="aspect_ratio",
        )

    async def _input(self, body: CreateRequest | EditRequest) -> tuple[Asset | None, bytes | None]:
        if not isinstance(body, EditRequest):
            return None, None
        async with session_scope(self.rt.engine, write=False) as session:
            asset = await session.get(Asset, body.input_asset_id)
        if asset is None or asset.organization_id != self.principal.organization_id:
            raise ImageSkillError(
                "NOT_FOUND",
                "No such input asset in your organization.",
                details={"field": "input_asset_id"},
                recovery={"suggested_command": "image-skill upload PATH_OR_URL --json"},
            )
        try:
            return asset, await self.rt.store.get(asset.storage_key)
        except StoreError as exc:
            raise ImageSkillError(
                "ASSET_DOWNLOAD_FAILED", "The input asset's bytes are unavailable.", retryable=True
            ) from exc

    # -- planning -------------------------------------------------------------

    async def _plan(
        self,
        operation: str,
        model: Model,
        body: CreateRequest | EditRequest,
        params: dict[str, Any],
        priced: Quote,
        budget_refusal: ImageSkillError | None,
        aspect_ratio: str,
        output_format: str | None,
        input_asset: Asset | None,
    ) -> Outcome:
        async with session_scope(self.rt.engine, write=False) as session:
            refusal = await accounting.admission_refusal(
                session, self.rt.settings, self.principal, priced.credits_required
            )
            balance = await ledger.balance(session, self.principal.actor_id)
            used = await creative_jobs_since(
                session, self.principal.actor_id, utc_day_bounds(utc_now())[0]
            )
        availability = model.availability()
        blockers = [e.code for e in (budget_refusal, refusal) if e is not None]
        if not availability.configured:
            blockers.append("MODEL_NOT_CONFIGURED")
        data = {
            "dry_run": True,
            "would_execute": not blockers,
            "blocked_by": blockers,
            "operation": operation,
            "capability": {"id": CAPABILITY_FOR_OPERATION[operation]},
            "model": {"model_id": model.model_id, "availability": availability.view()},
            "resolved": self._resolved(body, params, aspect_ratio, output_format),
            "cost": priced.view(),
            "budget": {
                "max_estimated_usd_per_image": body.max_estimated_usd_per_image,
                "max_usd": body.max_usd,
                "outcome": "refused" if budget_refusal else "within_budget",
                "refusal": budget_refusal.to_error() if budget_refusal else None,
            },
            "quota": {
                "outcome": "refused" if refusal else "allowed",
                "refusal": refusal.to_error() if refusal else None,
                "credits_required": 0 if self.principal.is_local_owner else priced.credits_required,
                "balance": balance,
                "daily_cap": daily_job_cap(self.rt.settings, self.principal),
                "used_today": used,
            },
            "safety": {"status": "allowed", "checks": ["service_prompt_policy"]},
            "input_asset": asset_view(input_asset, self.urls) if input_asset else None,
            "changes": "none",
        }
        return Outcome(200, data)

    def _resolved(
        self,
        body: CreateRequest | EditRequest,
        params: dict[str, Any],
        aspect_ratio: str,
        output_format: str | None,
    ) -> dict[str, Any]:
        return {
            "aspect_ratio": aspect_ratio,
            "output_format": output_format,
            "intent": body.intent,
            "model_parameters": params,
        }

    # -- execution ------------------------------------------------------------

    async def _admit(
        self,
        operation: str,
        model: Model,
        body: CreateRequest | EditRequest,
        params: dict[str, Any],
        priced: Quote,
        input_asset: Asset | None,
        key: str | None,
        fingerprint: str,
    ) -> Job:
        now = utc_now()
        credits = 0 if self.principal.is_local_owner else priced.credits_required
        settings = self.rt.settings
        # The lease covers the wait for a provider slot as well as the call itself.
        budget = settings.provider_queue_timeout_seconds + settings.provider_timeout_seconds + 60
        job = Job(
            id=new_id("job"),
            organization_id=self.principal.organization_id,
            actor_id=self.principal.actor_id,
            operation=operation,
            status="running",
            capability_id=CAPABILITY_FOR_OPERATION[operation],
            model_id=model.model_id,
            provider=model.provider,
            intent=body.intent,
            parameters=params,
            input_asset_id=input_asset.id if input_asset else None,
            trace_id=self.trace_id,
            credits_reserved=credits,
            credits_debited=0,
            estimated_usd=priced.estimated_provider_cost_usd,
            pricing_confidence=priced.confidence,
            safety_status="allowed",
            worker_id=self.rt.worker_id,
            lease_expires_at=now + timedelta(seconds=budget),
            created_at=now,
            started_at=now,
            updated_at=now,
        )
        # Admissions of one account queue here, in the process, before taking a pooled
        # connection: a burst for one agent can no longer starve other requests.
        async with self.rt.account_lock(self.principal.actor_id):
            try:
                async with session_scope(self.rt.engine, write=True) as session:
                    await accounting.lock_account(session, self.principal.actor_id)
                    # A concurrent duplicate may have claimed the key while we waited for the
                    # lock; it must replay, not be refused for the credits the first one holds.
                    if key and await idempotency.find(
                        session, self.principal.actor_id, operation, key
                    ):
                        raise _KeyTaken
                    refusal = await accounting.admission_refusal(
                        session, self.rt.settings, self.principal, credits
                    )
                    if refusal is not None:
                        raise refusal
                    session.add(job)
                    await session.flush()
                    await accounting.reserve(session, self.principal, job.id, credits)
                    if key:
                        session.add(
                            IdempotencyRecord(
                                id=new_id("idem"),
                                actor_id=self.principal.actor_id,
                                scope=operation,
                                key=key,
                                request_hash=fingerprint,
                                job_id=job.id,
                                created_at=now,
                            )
                        )
                        await session.flush()
            except IntegrityError as exc:
                if key:
                    raise _KeyTaken from exc
                raise
        return job

    async def _generate(
        self, model: Model, request: GenerationRequest, job: Job, key: str | None
    ) -> list[GeneratedImage]:
        limiter = await self._provider_slot(model, job, key)
        try:
            return await self._call_provider(model, request, job, key)
        finally:
            limiter.release()

    async def _provider_slot(
        self, model: Model, job: Job, key: str | None
    ) -> anyio.CapacityLimiter:
        """Wait for one of the provider's slots (``provider_concurrency``).

        The wait is bounded by ``provider_queue_timeout_seconds`` and does not
        count toward ``provider_timeout_seconds``, which starts only once the
        call does. No database session is held while waiting: the job was
        admitted (and its credits reserved) in a transaction already committed.
        When no slot frees up in time the job fails with a retryable
        PROVIDER_UNAVAILABLE and its reservation is released.
        """
        settings = self.rt.settings
        limiter = self.rt.provider_limiter(model.provider)
        try:
            with anyio.fail_after(settings.provider_queue_timeout_seconds):
                await limiter.acquire()
        except TimeoutError:
            wait = settings.provider_queue_timeout_seconds
            busy = ImageSkillError(
                "PROVIDER_UNAVAILABLE",
                f"Provider '{model.provider}' is busy: no slot freed up within {wait:g} s; "
                "no credits were spent.",
                retryable=True,
                details={
                    "provider": model.provider,
                    "concurrency_limit": int(limiter.total_tokens),
                    "queue_timeout_seconds": wait,
                },
                recovery={"retry_after_seconds": max(1, min(30, math.ceil(wait)))},
            )
            await self._fail(job, busy, key)
            raise busy from None
        return limiter

    async def _call_provider(
        self, model: Model, request: GenerationRequest, job: Job, key: str | None
    ) -> list[GeneratedImage]:
        try:
            with (
                anyio.fail_after(self.rt.settings.provider_timeout_seconds),
                telemetry.provider_call(model.model_id),
            ):
                images = await model.generate(request)
        except TimeoutError:
            timed_out = ImageSkillError(
                "PROVIDER_TIMEOUT", "The model did not answer in time.", retryable=True
            )
            await self._fail(job, timed_out, key)
            raise timed_out from None
        except ImageSkillError as refused:
            await self._fail(job, refused, key)
            raise
        except Exception as exc:
            log.error(
                "provider %s crashed (%s)\n%s",
                model.model_id,
                self.trace_id,
                redacted_traceback(exc),
                extra={"trace_id": self.trace_id},
            )
            crashed = ImageSkillError(
                "PROVIDER_FAILED", "The model failed to produce an image.", retryable=True
            )
            await self._fail(job, crashed, key)
            raise crashed from exc
        if not images:
            error = ImageSkillError(
                "PROVIDER_FAILED", "The model returned no image.", retryable=True
            )
            await self._fail(job, error, key)
            raise error
        return images

    async def _store(self, job: Job, images: list[GeneratedImage], key: str | None) -> list[Asset]:
        assets = []
        try:
            for image in images:
                assets.append(await store_output(self.rt.store, job, image))
        except StoreError:
            spool = await anyio.to_thread.run_sync(
                spool_outputs, self.rt.settings.home / "spool", job.id, images
            )
            error = ImageSkillError(
                "ARTIFACT_STORAGE_WRITE_FAILED",
                "The image was generated but could not be stored. Do not retry blindly: "
                "the job keeps the output for repair.",
                retryable=False,
                recovery={"suggested_command": f"image-skill jobs show {job.id} --json"},
            )
            await self._fail(job, error, key, spool_ref=spool)
            raise error from None
        return assets

    def _provider_request_recorder(self, job_id: str) -> Callable[[str], Awaitable[None]]:
        async def record(provider_request_id: str) -> None:
            async def work(session: AsyncSession) -> None:
                row = await session.get(Job, job_id)
                if row is not None:
                    row.provider_request_id = provider_request_id[:200]

            await in_transaction(self.rt.engine, work, write=True)

        return record

    async def _fail(
        self, job: Job, error: ImageSkillError, key: str | None, spool_ref: str | None = None
    ) -> None:
        """Mark the job failed and release its reservation, in one (retried) transaction."""

        async def work(session: AsyncSession) -> None:
            now = utc_now()
            row = await session.get(Job, job.id, with_for_update=True)
            if row is None or row.status != "running":
                return  # already resolved (e.g. by crash recovery)
            row.status = "failed"
            row.error_code = error.code
            row.error_message = error.message[:500]
            row.spool_ref = spool_ref
            row.completed_at = now
            row.updated_at = now
            await creative_events.job_failed(session, row)
            if error.code == "CONTENT_POLICY_DENIED":
                row.safety_status = "denied"
            await accounting.release(
                session, row.actor_id, row.organization_id, row.id, row.credits_reserved
            )
            if key:
                if error.retryable:
                    await idempotency.forget(session, row.actor_id, row.operation, key)
                else:
                    record = await idempotency.find(session, row.actor_id, row.operation, key)
                    if record is not None:
                        record.response = {"error": error.to_error()}
                        record.status_code = error.http_status

        await in_transaction(self.rt.engine, work, write=True)
        telemetry.job_finished(job.operation, "failed")

    async def _complete(
        self,
        job: Job,
        assets: list[Asset],
        priced: Quote,
        body: CreateRequest | EditRequest,
        params: dict[str, Any],
        aspect_ratio: str,
        output_format: str | None,
        input_asset: Asset | None,
        key: str | None,
    ) -> Outcome:
        """Record assets, settle credits and store the idempotent answer, all at once."""

        async def work(session: AsyncSession) -> dict[str, Any]:
            now = utc_now()
            row = await session.get(Job, job.id, with_for_update=True)
            if row is None or row.status != "running":
                raise ImageSkillError(
                    "JOB_INTERRUPTED",
                    "The job was resolved by crash recovery before it could finish; "
                    "no credits were spent.",
                )
            fresh = [_copy_asset(asset) for asset in assets]
            session.add_all(fresh)
            await session.flush()
            row.status = "completed"
            row.completed_at = now
            row.updated_at = now
            row.credits_debited = row.credits_reserved
            await accounting.settle(session, self.principal, row.id, row.credits_reserved)
            await creative_events.job_succeeded(session, row, fresh)
            balance = await ledger.balance(session, self.principal.actor_id)
            used = await creative_jobs_since(
                session, self.principal.actor_id, utc_day_bounds(now)[0]
            )
            data = {
                "job_id": row.id,
                "status": row.status,
                "operation": row.operation,
                "capability": {"id": row.capability_id},
                "model_id": row.model_id,
                "assets": [asset_view(asset, self.urls) for asset in fresh],
                "cost": priced.view(),
                "safety": {"status": "allowed", "checks": ["service_prompt_policy"]},
                "quota": {
                    "credits_debited": row.credits_debited,
                    "balance_after": balance,
                    "daily_cap": daily_job_cap(self.rt.settings, self.principal),
                    "used_today": used,
                },
                "resolved": self._resolved(body, params, aspect_ratio, output_format),
                "input_asset": asset_view(input_asset, self.urls) if input_asset else None,
                "created_at": iso(row.created_at),
                "completed_at": iso(now),
            }
            if key:
                record = await idempotency.find(session, row.actor_id, row.operation, key)
                if record is not None:
                    record.response = data
                    record.status_code = 201
            return data

        try:
            data = await in_transaction(self.rt.engine, work, write=True)
        except ImageSkillError:
            raise
        except Exception as exc:
            log.error(
                "settling a job failed (%s)\n%s",
                self.trace_id,
                redacted_traceback(exc),
                extra={"trace_id": self.trace_id},
            )
            error = ImageSkillError(
                "SERVICE_UNAVAILABLE",
                "The image was made but the job could not be recorded; no credits were spent.",
                retryable=True,
                recovery={"retry_after_seconds": 2},
            )
            await self._fail(job, error, key)
            raise error from exc
        telemetry.job_finished(job.operation, "completed", outputs=len(assets))
        return Outcome(201, data)

    async def _replay(self, operation: str, key: str, fingerprint: str) -> Outcome | None:
        async with session_scope(self.rt.engine, write=False) as session:
            record = await idempotency.find(session, self.principal.actor_id, operation, key)
            if record is None:
                return None
            if record.request_hash != fingerprint:
                raise idempotency.reused()
            telemetry.annotate(replayed=True, job_id=record.job_id)
            if record.response is not None:
                error = idempotency.stored_error(record.response)
                if error is not None:
                    raise error
                return Outcome(
                    record.status_code or 201,
                    record.response,
                    ["Replayed: this idempotency key already produced this result."],
                )
            job = await session.get(Job, record.job_id) if record.job_id else None
        return Outcome(
            202,
            {"job_id": record.job_id, "status": job.status if job else "running", "replayed": True},
            ["A request with this idempotency key is still running; poll jobs wait."],
        )


def _budget_refusal(priced: Quote, body: CreateRequest | EditRequest) -> ImageSkillError | None:
    if priced.confidence == "unknown" and not body.accept_unknown_cost:
        return ImageSkillError(
            "BUDGET_REQUIRES_CONFIRMATION",
            "This model's price is not known in advance; confirm you accept an unknown cost.",
            recovery={"required_flag": "--accept-unknown-cost"},
        )
    charged_per_image = priced.credits_required * 0.01 / max(priced.outputs, 1)
    cap = body.max_estimated_usd_per_image
    if cap is not None and charged_per_image > cap + 1e-9:
        return ImageSkillError(
            "BUDGET_CAP_EXCEEDED",
            f"One image costs ${charged_per_image:.2f}, above the cap of ${cap:.2f} per image.",
            details={"field": "max_estimated_usd_per_image"},
        )
    total = priced.credits_required * 0.01
    if body.max_usd is not None and total > body.max_usd + 1e-9:
        return ImageSkillError(
            "BUDGET_CAP_EXCEEDED",
            f"This operation costs ${total:.2f}, above max_usd ${body.max_usd:.2f}.",
            details={"field": "max_usd"},
        )
    return None


def _copy_asset(asset: Asset) -> Asset:
    """A fresh ORM row with the same values (a retried transaction needs new instances)."""
    columns = {column.key: getattr(asset, column.key) for column in Asset.__table__.columns}
    return Asset(**columns)
