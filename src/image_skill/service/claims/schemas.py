"""Public shapes of claims: what an agent sees of the request to be claimed (never the
link or its token, and the sponsor's email only masked)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ClaimView(BaseModel):
    """One claim and its state."""

    claim_id: str
    state: str = Field(examples=["pending"])
    agent_id: str
    sponsor_email: str | None = Field(description="Masked: h***@example.com.")
    expires_at: str
    created_at: str
    confirmed_at: str | None


class ClaimRequested(BaseModel):
    """``POST /v1/claims``: the new claim and what to do next."""

    claim: ClaimView
    next: list[str]


class ClaimList(BaseModel):
    """``GET /v1/claims``: the caller's claims, newest first."""

    claims: list[ClaimView]


class ClaimShown(BaseModel):
    """``GET /v1/claims/{claim_id}``."""

    claim: ClaimView


class WhoamiClaim(BaseModel):
    """The ``claim`` block of whoami for an agent."""

    state: str = Field(examples=["unclaimed"])
    claimed_at: str | None
    human_email: str | None
    sponsor_email: str | None
    pending_claim_id: str | None
