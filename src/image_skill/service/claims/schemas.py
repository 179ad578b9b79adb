"""Request bodies of the claim routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ClaimRequest(BaseModel):
    """``POST /v1/claims``: no fields today; the claim goes to the agent's recorded sponsor."""

    model_config = ConfigDict(extra="ignore")
