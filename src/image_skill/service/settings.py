"""Service configuration from ``IMAGE_SKILL_*`` environment variables."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from image_skill.contract.errors import ErrorCode
from image_skill.imaging.limits import MAX_UPLOAD_BYTES
from image_skill.paths import data_home

_SWITCH_WORDS = {
    **dict.fromkeys(("1", "true", "yes", "enabled"), "on"),
    **dict.fromkeys(("0", "false", "no", "disabled"), "off"),
}


class Settings(BaseSettings):
    """Everything an operator can tune; defaults suit one machine in dev."""

    model_config = SettingsConfigDict(
        env_prefix="IMAGE_SKILL_", extra="ignore", populate_by_name=True
    )

    environment: Literal["dev", "test", "production"] = "dev"
    home: Path = Field(default_factory=data_home)
    database_url: str | None = None
    public_base_url: str | None = None
    media_base_url: str | None = None
    auto_migrate: bool = True
    # Embedded mode: the app runs inside the CLI process and a request without a
    # token acts as the machine's owner. Never enabled by `serve`.
    embedded: bool = False
    token_pepper: str = "image-skill-dev-pepper"

    # Default models: the model a request that names none runs on. Unset, it is the
    # best configured real model (service/catalog/defaults.py documents the order),
    # else the stand-in (local.sketch / local.transform).
    default_create_model: str | None = None
    default_edit_model: str | None = None
    provider_timeout_seconds: float = Field(default=300, gt=0)
    prompt_blocked_terms: str | None = None
    max_upload_bytes: int = Field(default=MAX_UPLOAD_BYTES, gt=0)  # the CLI's limit too
    max_upload_pixels: int = Field(default=40_000_000, gt=0)
    pricing_markup: float = Field(default=2.0, ge=1.0)
    unknown_cost_hold_credits: int = Field(default=25, ge=1)

    quote_ttl_seconds: int = Field(default=1800, ge=60)
    # The fake settlement rail grants credits without money. Off unless enabled;
    # production refuses to start with it on unless the second switch is also set.
    # Unset (None) means: off, except in embedded mode without a Stripe key.
    fake_payments_enabled: bool | None = None
    allow_fake_payments_in_production: bool = False
    # How far a Stripe-Signature timestamp may lie from now, either way.
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    stripe_secret_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGE_SKILL_STRIPE_SECRET_KEY", "STRIPE_SECRET_KEY"),
    )
    stripe_webhook_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGE_SKILL_STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET"),
    )
    stripe_api_base: str | None = None
    checkout_success_url: str = "https://image-skill.com/checkout/success?quote={QUOTE_ID}"
    checkout_cancel_url: str = "https://image-skill.com/checkout/cancel?quote={QUOTE_ID}"

    free_preview_credits: int = Field(default=10, ge=0)
    # Free preview credits the whole service grants per UTC day; past it, new agents
    # start with none (signup still works).
    free_preview_daily_ceiling: int = Field(default=5000, ge=0)
    # Uploads an unclaimed agent may make per UTC day (they cost decode work, not credits).
    daily_upload_cap_unclaimed: int = Field(default=20, ge=0)
    daily_job_cap_unclaimed: int = Field(default=2, ge=0)
    daily_job_cap_payment_backed: int = Field(default=50, ge=0)
    daily_job_cap_claimed: int = Field(default=500, ge=0)

    # Human claims (SECURITY.md): a one-time emailed link confirms a sponsor.
    claim_link_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # "outbox" writes each message as a file under <home>/outbox (dev, embedded);
    # "smtp" sends through the server below.
    mail_backend: Literal["outbox", "smtp"] = "outbox"
    mail_from: str = "Image Skill <no-reply@localhost>"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = Field(default=15, gt=0)

    # Abuse limits (README "Abuse limits"): rates in the `limits` notation, e.g.
    # "600/minute" or "20/hour;100/day". Counters live in process memory unless
    # rate_limit_storage names a shared store (e.g. redis://host:6379/0).
    rate_limits_enabled: bool = True
    rate_limit_storage: str | None = None
    rate_limit_per_token: str = "600/minute"
    rate_limit_per_ip: str = "1200/minute"
    rate_limit_signup_per_ip: str = "20/hour"
    rate_limit_signup_per_email: str = "10/hour"
    rate_limit_claim_per_ip: str = "20/hour"
    rate_limit_claim_per_email: str = "5/hour"
    # Honour X-Forwarded-For (only behind a proxy that sets it).
    trust_forwarded_for: bool = False
    # Request bodies: uploads may carry max_upload_bytes as base64 plus JSON
    # framing; every other route gets max_request_bytes.
    max_request_bytes: int = Field(default=256 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2, le=200)
    # Image decoding (hostile uploads): total pixels across all frames, the time
    # one decode may take, and how many heavy decodes run at once per process.
    max_decoded_pixels_total: int = Field(default=120_000_000, gt=0)
    image_decode_timeout_seconds: float = Field(default=10, gt=0)
    image_decode_concurrency: int = Field(default=2, ge=1)
    # When set, /metrics needs "Authorization: Bearer <this>".
    metrics_token: str | None = None

    # Telemetry (docs/telemetry.md). "off" is the no-telemetry mode: no per-call event
    # lines, no trace export; /metrics keeps its aggregate counts either way.
    telemetry: Literal["on", "off"] = "on"
    # OTLP/HTTP base URL (``/v1/traces`` is appended); traces are exported only when set.
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGE_SKILL_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )

    # Object store and media URLs (docs/storage.md). Asset bytes live on local disk
    # ("local", under <home>/assets), in an S3-compatible bucket ("s3"), or in this
    # process's memory ("memory": tests and throwaway demos; lost on exit).
    asset_store: Literal["local", "s3", "memory"] = "local"
    # Unset: AWS itself, for s3_region.
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    # Unset: the AWS_* environment variables (or the instance's role) are used.
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["path", "virtual"] = "path"
    # One S3 request, connect to last byte; a failed write keeps the output in the spool.
    s3_timeout_seconds: float = Field(default=30, gt=0, le=600)
    # "proxy": the service streams the bytes; "redirect": a 302 to a presigned GET
    # URL of the bucket, valid media_presign_seconds (S3 only).
    media_delivery: Literal["proxy", "redirect"] = "proxy"
    media_presign_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    # Keys the ?sig= that makes a media URL its own permission. Unset, it is derived
    # from token_pepper; changing either invalidates every media URL handed out.
    media_signing_key: SecretStr | None = None

    @model_validator(mode="after")
    def _object_store_consistent(self) -> Settings:
        if self.asset_store == "s3" and not self.s3_bucket:
            raise ValueError("IMAGE_SKILL_ASSET_STORE=s3 needs IMAGE_SKILL_S3_BUCKET")
        if self.media_delivery == "redirect" and self.asset_store != "s3":
            raise ValueError(
                "IMAGE_SKILL_MEDIA_DELIVERY=redirect needs IMAGE_SKILL_ASSET_STORE=s3 "
                "(a local or memory store has no URL to redirect to); use proxy"
            )
        key = self.media_signing_key
        if (
            self.environment == "production"
            and key is not None
            and len(key.get_secret_value()) < 32
        ):
            raise ValueError(
                "IMAGE_SKILL_MEDIA_SIGNING_KEY must be at least 32 characters in production"
            )
        return self

    # Webhooks (docs/webhooks.md): signed completion webhooks for claimed agents.
    # Unset (None) means on, except in production without an encryption key.
    webhooks_enabled: bool | None = None
    # Encrypts the organizations' signing secrets at rest (comma-separated: the first
    # encrypts, all decrypt, for rotation). Unset outside production, a key is made
    # once and kept in <home>/webhook-encryption.key (mode 0600).
    webhook_encryption_key: SecretStr | None = None
    # Loopback, private, link-local ... targets and plain http:// (tests, private networks).
    webhook_allow_private_targets: bool = False
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # Failed deliveries are retried with backoff until this long after the event.
    webhook_retry_window_seconds: float = Field(default=26 * 3600, gt=0)

    @model_validator(mode="after")
    def _webhook_key_usable(self) -> Settings:
        key = self.webhook_encryption_key
        parts = [part.strip() for part in key.get_secret_value().split(",")] if key else []
        if key is not None and not all(parts):
            raise ValueError("IMAGE_SKILL_WEBHOOK_ENCRYPTION_KEY has an empty entry")
        if self.environment == "production" and self.webhooks_enabled is not False:
            if key is None and self.webhooks_enabled:
                raise ValueError(
                    "IMAGE_SKILL_WEBHOOKS_ENABLED=true needs IMAGE_SKILL_WEBHOOK_ENCRYPTION_KEY "
                    "(at least 32 characters) in production"
                )
            if any(len(part) < 32 for part in parts):
                raise ValueError(
                    "IMAGE_SKILL_WEBHOOK_ENCRYPTION_KEY must be at least 32 characters "
                    "in production"
                )
        return self

    @property
    def webhooks_on(self) -> bool:
        """Whether jobs may carry webhooks (the switch; unset: off only in keyless production)."""
        if self.webhooks_enabled is not None:
            return self.webhooks_enabled
        return self.environment != "production" or self.webhook_encryption_key is not None

    # Provider concurrency (README "Provider concurrency"): at most this many
    # generate calls per provider at once, per server process; per-provider
    # overrides come from IMAGE_SKILL_PROVIDER_CONCURRENCY_<PROVIDER> (e.g. _OPENAI=16).
    provider_concurrency: int = Field(default=64, ge=1)
    provider_concurrency_overrides: dict[str, int] = Field(default_factory=dict)
    # How long a create may wait for a free provider slot before it is refused with
    # a retryable PROVIDER_UNAVAILABLE. The wait does not count toward
    # provider_timeout_seconds, which bounds the provider call itself.
    provider_queue_timeout_seconds: float = Field(default=60, gt=0)
    # Creative requests (create, edit, upload) doing their own database and CPU
    # work at once, per process; the rest wait their turn holding nothing. A
    # request gives its place up while its provider call runs, so this bounds
    # bursts of admissions and completions, not calls in flight.
    admission_concurrency: int = Field(default=8, ge=1)

    # Job execution (docs/jobs.md). Where admitted jobs run: "inline" in the
    # request (embedded CLI), "inprocess" in the server's own task group (one
    # SQLite server), "queue" in the admitting process while it has a free slot,
    # else procrastinate workers (PostgreSQL); "auto" picks by mode and database.
    job_executor: Literal["auto", "inline", "inprocess", "queue"] = "auto"
    # Whether an API process also runs jobs on PostgreSQL (the ones it admits while a
    # slot is free, and queued ones through an embedded procrastinate worker); a
    # scale-out deploy sets it false and runs `image-skill worker`s.
    api_runs_jobs: bool = True
    # Jobs one worker (or one API process) runs at once; each mostly waits on
    # its provider, whose own limit (provider_concurrency) still applies.
    worker_concurrency: int = Field(default=64, ge=1, le=1000)
    # How long a create/edit waits server-side for its job before answering 202
    # with the job as it is (the 0.1.0 contract: the completed job, in time). Below
    # the clients' 120 s read timeout, so a slow job answers 202 rather than a timeout.
    create_wait_seconds: float = Field(default=100, gt=0)

    # Leases and sweeping (docs/jobs.md): a running job's executor renews its lease
    # every job_heartbeat_seconds to now + job_lease_seconds; every process sweeps
    # every sweep_interval_seconds for lapsed leases and resumes (where the provider
    # allows, at most job_resume_attempts times) or fails them with JOB_INTERRUPTED.
    job_lease_seconds: float = Field(default=30, gt=0, le=3600)
    job_heartbeat_seconds: float = Field(default=5, gt=0, le=600)
    sweep_interval_seconds: float = Field(default=10, gt=0, le=3600)
    job_resume_attempts: int = Field(default=3, ge=0, le=20)

    @field_validator("telemetry", mode="before")
    @classmethod
    def _telemetry_switch(cls, value: object) -> object:
        word = str(value).strip().lower() if value is not None else "on"
        return _SWITCH_WORDS.get(word, word)

    @model_validator(mode="after")
    def _provider_concurrency_from_env(self) -> Settings:
        for name, value in os.environ.items():
            if not name.startswith(_CONCURRENCY_PREFIX) or name == _CONCURRENCY_OVERRIDES:
                continue
            provider = name[len(_CONCURRENCY_PREFIX) :].lower()
            if provider and provider not in self.provider_concurrency_overrides:
                self.provider_concurrency_overrides[provider] = int(value)
        for provider, limit in self.provider_concurrency_overrides.items():
            if limit < 1:
                raise ValueError(f"provider concurrency for {provider} must be at least 1")
        return self

    def provider_concurrency_for(self, provider: str) -> int:
        """Concurrent generate calls allowed for ``provider`` (its override, else the default).

        Override keys match provider names case-insensitively, with any character
        other than a letter or digit read as ``_`` (``IMAGE_SKILL_PROVIDER_CONCURRENCY_FAL_AI``
        covers provider ``fal-ai``).
        """
        wanted = _env_key(provider)
        for name, limit in self.provider_concurrency_overrides.items():
            if _env_key(name) == wanted:
                return limit
        return self.provider_concurrency

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        if self.job_heartbeat_seconds * 2 > self.job_lease_seconds:
            raise ValueError(
                "IMAGE_SKILL_JOB_HEARTBEAT_SECONDS must be at most half of "
                "IMAGE_SKILL_JOB_LEASE_SECONDS, so one late renewal does not lose the lease"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if self.token_pepper == "image-skill-dev-pepper" or len(self.token_pepper) < 32:
                raise ValueError(
                    "IMAGE_SKILL_TOKEN_PEPPER must be set to a secret of at least 32 characters "
                    "in production"
                )
            if self.embedded:
                raise ValueError("embedded mode cannot run in production")
            if self.fake_payments_enabled and not self.allow_fake_payments_in_production:
                raise ValueError(
                    "IMAGE_SKILL_FAKE_PAYMENTS_ENABLED grants credits without money; in "
                    "production it also needs IMAGE_SKILL_ALLOW_FAKE_PAYMENTS_IN_PRODUCTION=true"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        """Async SQLAlchemy URL: the configured one, else SQLite under ``home``."""
        if self.database_url:
            return to_async_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.home / 'image-skill.db'}"

    @property
    def resolved_job_executor(self) -> Literal["inline", "inprocess", "queue"]:
        """The executor in use: the setting, or by mode and database for "auto"."""
        if self.job_executor != "auto":
            return self.job_executor
        if self.embedded:
            return "inline"
        return "inprocess" if self.is_sqlite else "queue"

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite (serialised writers, no row locks)."""
        return self.resolved_database_url.startswith("sqlite")


_CONCURRENCY_PREFIX = "IMAGE_SKILL_PROVIDER_CONCURRENCY_"
_CONCURRENCY_OVERRIDES = "IMAGE_SKILL_PROVIDER_CONCURRENCY_OVERRIDES"


def _env_key(provider: str) -> str:
    return re.sub(r"[^a-z0-9]", "_", provider.lower())


def to_async_url(url: str) -> str:
    """Map plain database URLs to the async drivers we ship: aiosqlite and asyncpg.

    asyncpg spends about a tenth less CPU per create than psycopg's async mode
    (bench/RESULTS.md). A URL that names its driver (``postgresql+psycopg://``)
    keeps it. libpq's ``sslmode`` query parameter is asyncpg's ``ssl``.
    """
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            rest = re.sub(r"([?&])sslmode=", r"\1ssl=", url[len(prefix) :])
            return "postgresql+asyncpg://" + rest
    return url


def to_sync_url(url: str) -> str:
    """The synchronous twin of an async URL (migrations and admin commands)."""
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url[len("sqlite+aiosqlite://") :]
    if url.startswith("postgresql+asyncpg://"):
        rest = re.sub(r"([?&])ssl=", r"\1sslmode=", url[len("postgresql+asyncpg://") :])
        return "postgresql+psycopg://" + rest
    return url


def server_settings() -> Settings:
    """Settings for ``serve`` and ``admin`` from the environment; bad config is
    INVALID_ARGUMENTS naming each problem (never a traceback)."""
    from pydantic import ValidationError

    from image_skill.contract.errors import ImageSkillError

    try:
        return Settings(embedded=False)
    except ValidationError as exc:
        # pydantic prefixes a validator's own message with "Value error, ".
        problems = "; ".join(str(e.get("msg")).removeprefix("Value error, ") for e in exc.errors())
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS, f"Invalid service configuration: {problems}"
        ) from None
