"""``local.transform``: exact, offline image operations for edit.

Operations come from ``model_parameters.operations`` when given; otherwise
from a small instruction grammar in the prompt ("rotate 90, grayscale").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.providers.base import (
    EXECUTION_KEY,
    GeneratedImage,
    GenerationRequest,
    Model,
    Operation,
)
from image_skill.providers.hookspecs import hookimpl
from image_skill.providers.image_output import ENCODED_FORMATS, ENCODED_MEDIA_TYPES
from image_skill.providers.transform_apply import apply_operations
from image_skill.providers.transform_grammar import (
    GRAMMAR_SUMMARY,
    InstructionNotUnderstood,
    parse_instructions,
)
from image_skill.providers.transform_ops import PARAMETERS_SCHEMA, operations_from_parameters
from image_skill.providers.transform_ops import Operation as TransformOperation


def _schema() -> dict[str, Any]:
    schema = dict(PARAMETERS_SCHEMA)
    schema["properties"] = {
        name: {**spec, EXECUTION_KEY: "executable"}
        for name, spec in PARAMETERS_SCHEMA["properties"].items()
    }
    return schema


class LocalTransform(Model):
    """Deterministic image operations as an edit model."""

    def _operations(self, prompt: str, parameters: dict[str, Any]) -> list[TransformOperation]:
        try:
            if parameters:
                return operations_from_parameters(parameters)
            return parse_instructions(prompt)
        except InstructionNotUnderstood:
            raise invalid_arguments(
                f"local.transform did not understand the prompt. It understands: {GRAMMAR_SUMMARY}",
                field="prompt",
            ) from None
        except ValueError as exc:
            raise ImageSkillError(
                ErrorCode.MODEL_PARAMETERS_INVALID, str(exc), details={"field": "model_parameters"}
            ) from None

    def check_request(self, operation: Operation, prompt: str, parameters: dict[str, Any]) -> None:
        """Parse instructions up front so a bad prompt never reserves credits."""
        self._operations(prompt, parameters)

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Apply the operations to the single input image."""
        operations = self._operations(request.prompt, request.parameters)
        source = request.input_images[0]
        try:
            result = await anyio.to_thread.run_sync(
                lambda: apply_operations(source, operations, output_format=request.output_format),
                abandon_on_cancel=True,
            )
        except ValueError as exc:
            raise ImageSkillError(ErrorCode.INVALID_ARGUMENTS, str(exc)) from None
        return [GeneratedImage(result.data, result.mime_type, result.width, result.height)]


def build() -> LocalTransform:
    """The ``local.transform`` model."""
    return LocalTransform(
        model_id="local.transform",
        provider="local",
        display_name="Local exact transforms",
        description="Offline exact edits: resize, crop, rotate, flip, grayscale, blur, "
        "sharpen, autocontrast and format/quality conversion. Instruction grammar: "
        + GRAMMAR_SUMMARY,
        operations=("edit",),
        parameters_schema=_schema(),
        media_inputs=("image/png", "image/jpeg", "image/webp", "image/gif", "image/avif"),
        media_outputs=ENCODED_MEDIA_TYPES,
        aspect_ratios=("auto",),
        output_formats=ENCODED_FORMATS,
        fixed_controls={"output_count": 1, "generative": False},
        pricing_confidence="known",
        latency_class="instant",
        safety={"moderation": "service_prompt_policy", "provider_moderation": False},
        stand_in=True,
        migration_hints=("For generative edits use a provider edit model (see models list).",),
    )


@hookimpl
def register_providers(register: Callable[[Model], None]) -> None:
    """Register ``local.transform``."""
    register(build())
