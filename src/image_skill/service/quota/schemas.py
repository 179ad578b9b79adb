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


class QuotaLimits(BaseModel):
    """Which operations count against the caps."""

    unlimited: bool
    creative_operations: list[str]


class QuotaData(BaseModel):
    """Balance, daily caps, use today and the reset time."""

    claim_state: str
    credits: CreditsQuota
    jobs: DailyQuota
    uploads: DailyQuota
    limits: QuotaLimits
    as_of: str
