"""The request body of ``POST /v1/cli``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_ARGS = 64
MAX_ARG_CHARS = 8000

Arg = Annotated[str, Field(max_length=MAX_ARG_CHARS)]


class CliRequest(BaseModel):
    """``{"argv": ["models", "list"]}``: the words and flags after ``image-skill``."""

    model_config = ConfigDict(extra="ignore")

    argv: list[Arg] = Field(max_length=MAX_ARGS, examples=[["models", "list"]])
