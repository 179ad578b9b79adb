"""The public shape of ``GET /v1/quota`` (also the ``limits`` of a purchase status)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class CreditsQuota(BaseModel):
    """Credit balance (1 credit = $0.01)."""

    balance: int
    credit_unit_usd: float
    credit_unit_cents: int
    balance_usd: float
    free_preview_granted: int
    reserved_in_flight: int


class DailyQuota(BaseModel):
    """A per-UTC-day cap (``null`` when unlimited)."""

    daily_cap: int | None
    used_today: int
    remaining_today: int | None
    window: Literal["utc_day"]
    resets_at: str


class Spending(BaseModel):
    """What this agent has spent, holds and has left, in credits and in USD."""

    spent_today_credits: int
    spent_total_credits: int
    reserved_credits: int
    remaining_credits: int
    spent_today_usd: float
    spent_total_usd: float
    reserved_usd: float
    remaining_usd: float
    credit_unit_usd: float
    spent_today_window: Literal["utc_day"]


class QuotaLimits(BaseModel):
    """Which operations count against the caps."""

    unlimited: bool
    creative_operations: list[str]


class Refusal(BaseModel):
    """A create or edit refused before it started, kept as a failed job."""

    job_id: str
    code: str | None
    operation: str
    model_id: str | None
    refused_at: str


class Refusals(BaseModel):
    """Refused attempts (budget, daily cap, balance): today's count and the newest."""

    today: int
    recent: list[Refusal]
    list_command: str


class Grant(BaseModel):
    """Credits granted: the signup's free preview, a purchase, an operator grant."""

    credit_event_id: str
    credits: int
    reason: str
    granted_at: str


class History(BaseModel):
    """When this actor signed up and its newest credit grants."""

    signed_up_at: str | None
    grants: list[Grant]


class QuotaData(BaseModel):
    """Balance, daily caps, use today and the reset time."""

    claim_state: str
    credits: CreditsQuota
    jobs: DailyQuota
    uploads: DailyQuota
    spending: Spending
    refusals: Refusals
    history: History
    limits: QuotaLimits
    as_of: str
