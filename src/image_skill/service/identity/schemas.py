"""Request bodies of the identity routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SignupRequest(BaseModel):
    """``POST /v1/agent-signups``."""

    model_config = ConfigDict(extra="ignore")

    human_email: str = Field(min_length=3, max_length=254)
    agent_name: str = Field(min_length=1, max_length=100)
    runtime: str | None = Field(default=None, max_length=100)
    return_token: bool = True
