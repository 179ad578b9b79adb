"""Request bodies of the creative routes (clients of 0.1.0 send exactly these), and the
shapes of their answers for OpenAPI.

Numbers and booleans are strict: lax pydantic reads a JSON ``true`` as the
number 1 and ``"yes"`` or ``1`` as a boolean, so a budget could be set by a
boolean and OpenAPI would not say what is really accepted. A JSON integer is
still a valid amount where a float is expected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from image_skill.service.assets.schemas import AssetView
from image_skill.service.catalog.schemas import (
    AvailabilityView,
    CostView,
    ModelChoiceView,
    StandInNotice,
)
from image_skill.service.envelopes import ErrorDetail

# A non-negative amount of US dollars: a JSON number (integer or not), never a boolean or string.
Usd = Annotated[float, Field(strict=True, ge=0)]

Intent = Literal["explore", "draft", "finalize"]


class OutputOptions(BaseModel):
    """``output``: normalized output controls."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["png", "jpeg", "jpg", "webp"] | None = None


class CreativeFields(BaseModel):
    """Fields shared by create and edit."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1, max_length=4000)
    provider: str | None = Field(default=None, max_length=50)
    model: str | None = Field(default=None, max_length=100)
    intent: Intent | None = None
    max_estimated_usd_per_image: Usd | None = None
    max_usd: Usd | None = None
    model_parameters: dict[str, Any] | None = None
    output: OutputOptions | None = None
    accept_unknown_cost: StrictBool = False
    dry_run: StrictBool = False
    # Claimed agents only: where the signed completion webhook goes (docs/webhooks.md).
    webhook_url: str | None = Field(default=None, max_length=2048)


class CreateRequest(CreativeFields):
    """``POST /v1/create``."""

    aspect_ratio: str = Field(default="1:1", max_length=10)


class EditRequest(CreativeFields):
    """``POST /v1/edit``."""

    input_asset_id: str = Field(min_length=1, max_length=160)
    aspect_ratio: str = Field(default="auto", max_length=10)


class UploadRequest(BaseModel):
    """``POST /v1/upload``: client-normalized bytes, never a URL to fetch."""

    model_config = ConfigDict(extra="ignore")

    source_kind: Literal["local_path", "remote_url"]
    filename: str | None = Field(default=None, max_length=255)
    remote_origin: str | None = Field(default=None, max_length=300)
    mime_type: str | None = Field(default=None, max_length=100)
    content_length: int | None = Field(default=None, ge=0, strict=True)
    sha256: str | None = Field(default=None, max_length=64)
    bytes_base64: str = Field(min_length=1)


class CapabilityRef(BaseModel):
    """The capability an operation runs under."""

    id: str | None


class Resolved(BaseModel):
    """What the service settled on for the request."""

    aspect_ratio: str
    output_format: str | None
    intent: str | None
    model_parameters: dict[str, Any]


class Safety(BaseModel):
    """The checks the prompt passed."""

    status: str
    checks: list[str]


class PlannedModel(BaseModel):
    """The model a dry run would use and whether it can run here."""

    model_id: str
    availability: AvailabilityView
    default_reason: ModelChoiceView | None = None


class BudgetCheck(BaseModel):
    """The caller's budget caps and whether the plan fits them."""

    max_estimated_usd_per_image: float | None
    max_usd: float | None
    outcome: Literal["refused", "within_budget"]
    refusal: ErrorDetail | None


class QuotaCheck(BaseModel):
    """Whether the caller's credits and daily cap allow the plan."""

    outcome: Literal["refused", "allowed"]
    refusal: ErrorDetail | None
    credits_required: int
    balance: int
    daily_cap: int | None
    used_today: int


class DryRunData(BaseModel):
    """A dry run (200): what would run, what it would cost and what blocks it."""

    dry_run: Literal[True]
    would_execute: bool
    blocked_by: list[str]
    operation: str
    capability: CapabilityRef
    model: PlannedModel
    resolved: Resolved
    cost: CostView
    budget: BudgetCheck
    quota: QuotaCheck
    safety: Safety
    input_asset: AssetView | None
    changes: Literal["none"]
    stand_in: bool | None = None
    stand_in_notice: StandInNotice | None = None


class SpentQuota(BaseModel):
    """What a finished job charged and what is left."""

    credits_debited: int
    balance_after: int
    daily_cap: int | None
    used_today: int


class CompletedData(BaseModel):
    """A finished job (201), also when an idempotency key replays it."""

    job_id: str
    status: str = Field(examples=["completed"])
    operation: str
    capability: CapabilityRef
    model_id: str | None
    assets: list[AssetView]
    cost: CostView
    safety: Safety
    quota: SpentQuota
    resolved: Resolved
    input_asset: AssetView | None
    created_at: str
    completed_at: str
    stand_in: bool | None = None
    stand_in_notice: StandInNotice | None = None


class AcceptedData(BaseModel):
    """A job that has not finished yet (202): poll it with ``jobs wait``.

    A key replayed while its first request runs answers ``job_id``, ``status`` and
    ``replayed``; an asynchronous or over-long create answers the job as it is now (the
    ``jobs show`` fields) with its queue position and the command that waits for it.
    """

    model_config = ConfigDict(extra="allow")

    job_id: str | None
    status: str = Field(examples=["running"])


class UploadSource(BaseModel):
    """Where the client said the bytes came from (origin only, never a full URL)."""

    source_kind: Literal["local_path", "remote_url"]
    filename: str | None
    remote_origin: str | None


class UploadPolicy(BaseModel):
    """The upload policy verdict."""

    status: str
    metadata_stripped: bool


class UploadFacts(BaseModel):
    """The bytes received and the bytes stored after sanitising."""

    bytes: int
    stored_bytes: int
    mime_type: str
    sha256: str
    stored_sha256: str
    policy: UploadPolicy


class UploadData(BaseModel):
    """``POST /v1/upload`` (201): the owned input asset."""

    request: UploadSource
    asset: AssetView
    upload: UploadFacts
