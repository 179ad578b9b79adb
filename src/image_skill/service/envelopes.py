"""The envelope as pydantic models, so ``/openapi.json`` states what every answer looks like.

``contract.envelope`` builds the envelope as plain dicts (the CLI shares it and
must not import pydantic); these models only describe it. Routes still return
the ``JSONResponse`` that ``responses.envelope_response`` builds, and FastAPI
hands a returned response through untouched, so declaring a model changes the
spec and never a byte on the wire. One generic ``Envelope[Data]`` serves every
success; each route names its ``data`` model with ``answers(...)``. The published
schemas allow fields they do not name (a client must not break on an added
field), but ``tests/service/test_openapi_responses.py`` validates real answers
with every object closed, so a field the models do not name fails there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

DataT = TypeVar("DataT")

_STATUS_WHAT = {
    200: "Success envelope (ok true).",
    201: "Success envelope (ok true): something new was made.",
    202: "Success envelope (ok true): accepted, still running.",
}


class EnvelopeActor(BaseModel):
    """``actor`` of an envelope: who the request acted as."""

    actor_type: str = Field(examples=["agent"])
    actor_id: str
    organization_id: str | None
    claim_state: str = Field(examples=["unclaimed"])


class _EnvelopeFields(BaseModel):
    """The fields every envelope has, success or failure."""

    command: str = Field(examples=["image-skill create"])
    trace_id: str = Field(examples=["trace_0123456789abcdef"])
    actor: EnvelopeActor | None
    warnings: list[str]


class Envelope(_EnvelopeFields, Generic[DataT]):
    """A success: ``ok`` true, ``error`` null, the answer in ``data``; the header
    ``x-image-skill-exit-code`` is 0."""

    ok: Literal[True]
    data: DataT
    error: None


class ErrorDetail(BaseModel):
    """``error`` of an error envelope."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["INVALID_ARGUMENTS"])
    message: str
    retryable: bool
    recovery: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


class ErrorEnvelope(_EnvelopeFields):
    """The envelope of every failure; the header ``x-image-skill-exit-code`` carries the
    exit code a CLI must exit with."""

    ok: Literal[False]
    data: None
    error: ErrorDetail


def answers(
    data: Any, *, status: int = 200, others: Mapping[int, Any] | None = None
) -> dict[str, Any]:
    """Route keyword arguments documenting its success envelope: ``data`` at ``status``
    and, for each other success status it can answer, that status's ``data``."""
    responses = {
        code: {"model": envelope_of(other), "description": _STATUS_WHAT.get(code, "Success.")}
        for code, other in (others or {}).items()
    }
    return {
        "status_code": status,
        "response_model": envelope_of(data),
        "response_description": _STATUS_WHAT.get(status, "Success."),
        "responses": responses,
    }


def envelope_of(data: Any) -> type[BaseModel]:
    """``Envelope[data]``, for a ``data`` model (or union) chosen at run time."""
    generic: Any = Envelope
    model: type[BaseModel] = generic[data]
    return model
