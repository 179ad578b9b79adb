"""What a provider plugin gives the service: models with honest, inspectable capabilities.

A model declares everything an agent needs to plan before spending: operations,
media in/out, a Draft 2020-12 JSON Schema for its ``model_parameters`` (each
property marked ``executable`` or ``planning_only`` via ``x-execution``), the
normalized controls it honours, fixed controls, pricing with its confidence,
latency class, safety behaviour, migration hints and which environment
variables make it available.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from image_skill.contract.errors import ErrorCode, ImageSkillError

Operation = Literal["create", "edit"]
PricingConfidence = Literal["known", "estimated", "unknown"]
EXECUTION_KEY = "x-execution"


def parameters_schema(title: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A model's closed JSON Schema (Draft 2020-12) for its ``model_parameters``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }


def executable(spec: dict[str, Any], description: str) -> dict[str, Any]:
    """A parameter the model carries out, with its description."""
    return {**spec, "description": description, EXECUTION_KEY: "executable"}


@dataclass(frozen=True)
class GenerationRequest:
    """One validated creative call, as a provider sees it."""

    operation: Operation
    prompt: str
    parameters: dict[str, Any]
    width: int | None
    height: int | None
    aspect_ratio: str
    output_format: str | None
    input_images: tuple[bytes, ...] = ()
    job_id: str = ""
    # Durably records the provider's own request id on our job before waiting for
    # the result, so a client timeout never loses a paid generation.
    record_provider_request: Callable[[str], Awaitable[None]] | None = None


@dataclass(frozen=True)
class GeneratedImage:
    """Bytes a provider produced, before they reach our store."""

    data: bytes
    mime_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Availability:
    """Whether a model can run here, and what to set if not."""

    configured: bool
    missing_env: tuple[str, ...] = ()
    # Set when enabling takes more than setting variables (e.g. installing an extra).
    how_to_enable: str | None = None

    def view(self) -> dict[str, Any]:
        """Public form (names variables, never values)."""
        return {
            "configured": self.configured,
            "missing_env": list(self.missing_env),
            "how_to_enable": self.how_to_enable
            or (
                f"set {', '.join(self.missing_env)} in the service environment"
                if self.missing_env
                else None
            ),
        }


@dataclass
class Model:
    """Base class for a creative model. Subclasses implement ``generate``."""

    model_id: str
    provider: str
    display_name: str
    description: str
    operations: tuple[Operation, ...]
    parameters_schema: dict[str, Any]
    media_inputs: tuple[str, ...] = ()
    media_outputs: tuple[str, ...] = ("image/png",)
    aspect_ratios: tuple[str, ...] = ("1:1",)
    output_formats: tuple[str, ...] = ("png",)
    intents: tuple[str, ...] = ("explore", "draft", "finalize")
    fixed_controls: dict[str, Any] = field(default_factory=dict)
    pricing_confidence: PricingConfidence = "known"
    latency_class: str = "interactive"
    safety: dict[str, Any] = field(default_factory=dict)
    migration_hints: tuple[str, ...] = ()
    required_env: tuple[str, ...] = ()
    max_outputs: int = 1
    # Modules ``generate`` imports on first use (to keep the CLI fast); a server
    # imports them at start-up instead, so no request waits on an import.
    sdk_modules: tuple[str, ...] = ()
    # A stand-in renders without following the prompt (offline, free, for testing
    # workflows); its results say so, and it is a default only when nothing real is.
    stand_in: bool = False

    def availability(self) -> Availability:
        """Configured when every required variable is set."""
        missing = tuple(name for name in self.required_env if not os.environ.get(name))
        return Availability(configured=not missing, missing_env=missing)

    def estimate_usd_per_image(self, parameters: dict[str, Any]) -> float | None:
        """Provider cost of one image for these parameters; None when unknown."""
        return 0.0

    def check_request(self, operation: Operation, prompt: str, parameters: dict[str, Any]) -> None:
        """Refuse, before any spend, a request this model cannot carry out."""

    def output_count(self, parameters: dict[str, Any]) -> int:
        """How many images one call produces."""
        return 1

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Produce images; raise ``ProviderError`` subclasses on failure."""
        raise NotImplementedError

    # Optional capabilities of providers with a request queue of their own (fal): a
    # job whose executor died after the submit is resumed instead of submitted again,
    # and a canceled job is canceled at the provider too.
    supports_resume: ClassVar[bool] = False
    supports_cancel: ClassVar[bool] = False

    async def resume(
        self, provider_request_id: str, request: GenerationRequest
    ) -> list[GeneratedImage]:
        """Wait for and fetch the result of an earlier submit (never submit again)."""
        raise NotImplementedError

    async def cancel(self, provider_request_id: str) -> bool:
        """Ask the provider to stop ``provider_request_id``; True when it accepted."""
        raise NotImplementedError

    def executable_fields(self) -> list[str]:
        """Parameter names the model actually executes."""
        return [
            name
            for name, spec in self.parameters_schema.get("properties", {}).items()
            if spec.get(EXECUTION_KEY, "executable") == "executable"
        ]

    def planning_only_fields(self) -> list[str]:
        """Parameter names that are documented for planning but refused at run time."""
        return [
            name
            for name, spec in self.parameters_schema.get("properties", {}).items()
            if spec.get(EXECUTION_KEY) == "planning_only"
        ]


class ProviderError(ImageSkillError):
    """A provider failure, already mapped to one of our codes."""


def provider_failed(message: str, *, retryable: bool = True) -> ProviderError:
    """PROVIDER_FAILED (exit 7)."""
    return ProviderError(ErrorCode.PROVIDER_FAILED, message, retryable=retryable)


def content_refused(message: str) -> ProviderError:
    """CONTENT_POLICY_DENIED raised by a provider's own moderation."""
    return ProviderError(ErrorCode.CONTENT_POLICY_DENIED, message)
