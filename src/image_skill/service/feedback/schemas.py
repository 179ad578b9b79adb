"""The request body of ``POST /v1/feedback``: the 0.1.0 client's fields, bounded; and the
two answers (stored or merged, or refused because it looked like a secret).

Every optional field may be absent or null (the 0.1.0 client sends nulls for
flags it was not given). Text is trimmed; an empty string counts as absent.
Length bounds follow the storage columns, so a valid request always fits.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

SurfaceItem = Annotated[str, Field(max_length=64)]
EvidenceItem = Annotated[str, Field(max_length=500)]

MAX_SURFACE_ITEMS = 20
MAX_EVIDENCE_ITEMS = 50


def _split_commas(value: Any) -> Any:
    """``"cli, docs"`` -> ``["cli", "docs"]``; anything else is left to validation."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    return value


class FeedbackRequest(BaseModel):
    """``POST /v1/feedback``."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    type: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=8000)
    severity: str | None = Field(default=None, max_length=16)
    confidence: str | None = Field(default=None, max_length=16)
    next_state: str | None = Field(default=None, max_length=32)
    command: str | None = Field(default=None, max_length=1000)
    expected: str | None = Field(default=None, max_length=4000)
    actual: str | None = Field(default=None, max_length=4000)
    friction: str | None = Field(default=None, max_length=4000)
    proof_needed: str | None = Field(default=None, max_length=4000)
    strategic_reason: str | None = Field(default=None, max_length=4000)
    dedupe_key: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=100)
    trace_id: str | None = Field(default=None, max_length=64)
    # A list, as the contract says; a comma-separated string is accepted too.
    surface: Annotated[list[SurfaceItem] | None, BeforeValidator(_split_commas)] = Field(
        default=None, max_length=MAX_SURFACE_ITEMS
    )
    evidence: list[EvidenceItem] | None = Field(default=None, max_length=MAX_EVIDENCE_ITEMS)
    allow_weak_signal: bool | None = None


class FeedbackQuality(BaseModel):
    """How useful the signal is and what it lacks."""

    level: str
    missing: list[str]
    warnings: list[str]
    weak_signal_allowed: bool


class FeedbackStored(BaseModel):
    """Stored (201) or merged into an earlier signal with the same ``dedupe_key`` (200)."""

    feedback_id: str
    stored: Literal[True]
    deduplicated: bool
    occurrences: int
    quality: FeedbackQuality
    type: str
    severity: str
    confidence: str
    next_state: str
    dedupe_key: str | None
    created_at: str
    updated_at: str


class FeedbackRefused(BaseModel):
    """Not stored (200): a field looked like a secret; the answer names the field."""

    stored: Literal[False]
    feedback_id: None
    reason: str = Field(examples=["possible_secret"])
    field: str


FeedbackAnswer = FeedbackStored | FeedbackRefused
