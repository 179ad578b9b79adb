"""Request bodies of the creative routes (clients of 0.1.0 send exactly these).

Numbers and booleans are strict: lax pydantic reads a JSON ``true`` as the
number 1 and ``"yes"`` or ``1`` as a boolean, so a budget could be set by a
boolean and OpenAPI would not say what is really accepted. A JSON integer is
still a valid amount where a float is expected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

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
