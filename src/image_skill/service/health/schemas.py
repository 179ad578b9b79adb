"""The public shape of ``GET /healthz`` (what ``image-skill doctor`` reads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class HealthData(BaseModel):
    """Service status, API version and database reachability."""

    status: Literal["ok"]
    api_version: str = Field(examples=["v1"])
    service: Literal["image-skill"]
    version: str
    mode: Literal["embedded", "server"]
    telemetry: Literal["on", "off"]
    database: Literal["ok"]
    time: str = Field(description="UTC ISO 8601 with milliseconds and Z.")
