"""OpenAI GPT Image models through the official ``openai`` SDK.

* ``openai.gpt-image-2`` (create) and ``openai.gpt-image-2-edit`` (edit, one input
  image sent as a multipart file upload; masks are not supported here).
* ``openai.gpt-image-1.5`` and ``openai.gpt-image-1-mini`` (create).

Provider-native controls travel in ``model_parameters`` and are validated
against each model's schema before any spend. Prices come from the per-image
tables below (see ``PRICE_SOURCES``); the GPT Image models are billed by
tokens, so where only a per-image *estimate* is published the model says
``estimated``. ``auto`` size or quality is priced at the most expensive cell
of its row/table (an upper bound).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.imaging.acceptance import sniff_mime
from image_skill.providers.base import (
    EXECUTION_KEY,
    GeneratedImage,
    GenerationRequest,
    Model,
    Operation,
    PricingConfidence,
    executable,
    parameters_schema,
)
from image_skill.providers.hookspecs import hookimpl
from image_skill.providers.openai_compat import Vendor, call, decode_images, record_request_id

OPENAI = Vendor(
    name="OpenAI",
    key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    default_base_url=None,  # the SDK default, https://api.openai.com/v1
)
QUALITIES = ("low", "medium", "high")
CLASSIC_SIZES = ("1024x1024", "1536x1024", "1024x1536")
GPT_IMAGE_2_SIZES = (
    *CLASSIC_SIZES,
    "2048x2048",
    "2048x1152",
    "1152x2048",
    "3840x2160",
    "2160x3840",
)
SQUARE_PIXELS = 1024 * 1024

# USD per image by quality x size.
PRICE_TABLES: dict[str, dict[str, dict[str, float]]] = {
    # OpenAI's model page for gpt-image-1-mini ("Image generation, per image").
    "gpt-image-1-mini": {
        "low": {"1024x1024": 0.005, "1024x1536": 0.006, "1536x1024": 0.006},
        "medium": {"1024x1024": 0.011, "1024x1536": 0.015, "1536x1024": 0.015},
        "high": {"1024x1024": 0.036, "1024x1536": 0.052, "1536x1024": 0.052},
    },
    # OpenAI's per-image table for gpt-image-1.5, as republished by API relays.
    "gpt-image-1.5": {
        "low": {"1024x1024": 0.009, "1024x1536": 0.013, "1536x1024": 0.013},
        "medium": {"1024x1024": 0.034, "1024x1536": 0.05, "1536x1024": 0.05},
        "high": {"1024x1024": 0.133, "1024x1536": 0.2, "1536x1024": 0.2},
    },
    # gpt-image-2 is token-billed ($30/1M image output tokens); OpenAI's published
    # per-image cost estimates for the three classic sizes.
    "gpt-image-2": {
        "low": {"1024x1024": 0.006, "1024x1536": 0.005, "1536x1024": 0.005},
        "medium": {"1024x1024": 0.053, "1024x1536": 0.041, "1536x1024": 0.041},
        "high": {"1024x1024": 0.211, "1024x1536": 0.165, "1536x1024": 0.165},
    },
}
PRICE_SOURCES = {
    "gpt-image-1-mini": "developers.openai.com model page (per-image table)",
    "gpt-image-1.5": "OpenAI per-image table as republished by relays (not verified first-hand)",
    "gpt-image-2": "OpenAI's per-image estimates of token pricing",
}
# Aspect ratios we can translate into a size (when model_parameters.size is absent).
RATIO_SIZES = {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536"}
GPT_IMAGE_2_RATIO_SIZES = {**RATIO_SIZES, "16:9": "2048x1152", "9:16": "1152x2048"}
_SIZE = re.compile(r"^([0-9]{2,4})x([0-9]{2,4})$")


def _schema(title: str, *, flexible_sizes: bool, transparent: bool, edit: bool) -> dict[str, Any]:
    sizes = GPT_IMAGE_2_SIZES if flexible_sizes else CLASSIC_SIZES
    size: dict[str, Any] = (
        {
            "anyOf": [
                {"enum": ["auto", *sizes]},
                {"type": "string", "pattern": _SIZE.pattern},
            ]
        }
        if flexible_sizes
        else {"enum": ["auto", *sizes]}
    )
    size_help = (
        "WIDTHxHEIGHT. Listed sizes, or any size with both edges multiples of 16, longest "
        "edge <= 3840, ratio <= 3:1 and 655,360..8,294,400 pixels. Overrides aspect_ratio."
        if flexible_sizes
        else "Output size; overrides aspect_ratio."
    )
    properties: dict[str, Any] = {
        "size": executable(size, size_help),
        "quality": executable(
            {"enum": ["auto", *QUALITIES]}, "Rendering quality; decides most of the price."
        ),
        "background": executable(
            {"enum": ["auto", "opaque", "transparent"] if transparent else ["auto", "opaque"]},
            "Background; transparent needs png or webp."
            if transparent
            else "Background (this model cannot make transparent backgrounds).",
        ),
        "output_format": executable(
            {"enum": ["png", "jpeg", "webp"]}, "Encoded format; overrides output.format."
        ),
        "output_compression": executable(
            {"type": "integer", "minimum": 0, "maximum": 100},
            "Compression 0-100 for jpeg/webp (set output_format too).",
        ),
        "n": executable(
            {"type": "integer", "minimum": 1, "maximum": 10},
            "Images per call; each is priced and debited.",
        ),
    }
    if not edit:
        properties["moderation"] = executable(
            {"enum": ["auto", "low"]}, "OpenAI's own moderation strictness."
        )
    else:
        properties["mask"] = {
            "type": "string",
            "description": "An inpainting mask is part of OpenAI's edit API but this service "
            "cannot send one yet; documented for planning, refused at run time.",
            EXECUTION_KEY: "planning_only",
        }
    return parameters_schema(title, properties)


def _invalid(field: str, message: str) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.MODEL_PARAMETERS_INVALID,
        f"model_parameters.{field}: {message}",
        details={"field": f"model_parameters.{field}"},
    )


def _check_flexible_size(size: str) -> None:
    match = _SIZE.match(size)
    if match is None:
        return
    width, height = int(match.group(1)), int(match.group(2))
    if width % 16 or height % 16:
        raise _invalid("size", "both edges must be multiples of 16")
    if max(width, height) > 3840:
        raise _invalid("size", "the longest edge is at most 3840")
    if max(width, height) > 3 * min(width, height):
        raise _invalid("size", "the aspect ratio is at most 3:1")
    if not 655_360 <= width * height <= 8_294_400:
        raise _invalid("size", "total pixels must be between 655,360 and 8,294,400")


@dataclass
class OpenAIImageModel(Model):
    """A GPT Image model on OpenAI's Images API (generations or edits)."""

    sdk_modules: tuple[str, ...] = ("openai",)
    api_model: str = ""
    ratio_sizes: dict[str, str] = field(default_factory=dict)
    flexible_sizes: bool = False

    def output_count(self, parameters: dict[str, Any]) -> int:
        return int(parameters.get("n", 1))

    def estimate_usd_per_image(self, parameters: dict[str, Any]) -> float | None:
        table = PRICE_TABLES.get(self.api_model)
        if table is None:
            return None
        quality = parameters.get("quality", "auto")
        rows = [table[quality]] if quality in table else list(table.values())
        size = str(parameters.get("size", "auto"))
        prices = []
        for row in rows:
            if size in row:
                prices.append(row[size])
            elif size == "auto":
                prices.append(max(row.values()))
            else:  # a larger gpt-image-2 size: scale the square price by pixels
                match = _SIZE.match(size)
                pixels = int(match.group(1)) * int(match.group(2)) if match else SQUARE_PIXELS
                prices.append(row["1024x1024"] * max(1.0, pixels / SQUARE_PIXELS))
        return round(max(prices), 6)

    def check_request(self, operation: Operation, prompt: str, parameters: dict[str, Any]) -> None:
        if self.flexible_sizes and isinstance(parameters.get("size"), str):
            _check_flexible_size(parameters["size"])
        fmt = parameters.get("output_format")
        if "output_compression" in parameters and fmt not in ("jpeg", "webp"):
            raise _invalid("output_compression", "needs output_format jpeg or webp")
        if parameters.get("background") == "transparent" and fmt == "jpeg":
            raise _invalid("background", "transparent needs output_format png or webp")

    def _arguments(self, request: GenerationRequest) -> dict[str, Any]:
        params = dict(request.parameters)
        if "size" not in params and request.aspect_ratio in self.ratio_sizes:
            params["size"] = self.ratio_sizes[request.aspect_ratio]
        if "output_format" not in params and request.output_format:
            params["output_format"] = request.output_format
        return {"model": self.api_model, "prompt": request.prompt, **params}

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        client = OPENAI.client()  # shared: never closed here
        arguments = self._arguments(request)
        if request.operation == "edit":
            if not request.input_images:
                raise invalid_arguments("Edit needs an input image.", field="input_asset_id")
            data = request.input_images[0]
            mime = sniff_mime(data) or "image/png"
            image = (f"input.{mime.rsplit('/', 1)[-1]}", data, mime)

            async def attempt() -> Any:
                return await client.images.with_raw_response.edit(image=image, **arguments)
        else:

            async def attempt() -> Any:
                return await client.images.with_raw_response.generate(**arguments)

        response = await call(OPENAI, attempt)
        await record_request_id(response, request.record_provider_request)
        return decode_images(OPENAI, response)


def _model(
    model_id: str,
    api_model: str,
    *,
    operation: Operation,
    display_name: str,
    description: str,
    confidence: PricingConfidence,
    flexible_sizes: bool,
    transparent: bool,
) -> OpenAIImageModel:
    ratio_sizes = GPT_IMAGE_2_RATIO_SIZES if flexible_sizes else RATIO_SIZES
    edit = operation == "edit"
    model = OpenAIImageModel(
        model_id=model_id,
        provider="openai",
        display_name=display_name,
        description=description,
        operations=(operation,),
        parameters_schema=_schema(
            f"{model_id} model_parameters",
            flexible_sizes=flexible_sizes,
            transparent=transparent,
            edit=edit,
        ),
        media_inputs=("text/plain", "image/png", "image/jpeg", "image/webp")
        if edit
        else ("text/plain",),
        media_outputs=("image/png", "image/jpeg", "image/webp"),
        aspect_ratios=("auto", *ratio_sizes),
        output_formats=("png", "jpeg", "webp"),
        fixed_controls={
            "response_format": "b64_json",
            "price_source": PRICE_SOURCES[api_model],
            "aspect_ratio_to_size": dict(ratio_sizes),
            **({"mask": "unsupported"} if edit else {}),
        },
        pricing_confidence=confidence,
        latency_class="slow",
        safety={
            "moderation": "service_prompt_policy",
            "provider_moderation": True,
            "provider_refusal_code": "CONTENT_POLICY_DENIED",
        },
        migration_hints=(
            "model_parameters are OpenAI-native (size, quality, background, output_format, "
            "output_compression, n" + (")." if edit else ", moderation)."),
            "Without size, aspect_ratio picks one of the listed sizes; auto lets OpenAI choose.",
        ),
        required_env=(OPENAI.key_env,),
        max_outputs=10,
        api_model=api_model,
        ratio_sizes=dict(ratio_sizes),
        flexible_sizes=flexible_sizes,
    )
    return model


def build_models() -> list[OpenAIImageModel]:
    """Every OpenAI image model this plugin offers."""
    return [
        _model(
            "openai.gpt-image-2",
            "gpt-image-2",
            operation="create",
            display_name="OpenAI GPT Image 2",
            description="OpenAI's flagship image model: strong prompt following and text "
            "rendering, flexible sizes up to 3840px. No transparent backgrounds.",
            confidence="estimated",
            flexible_sizes=True,
            transparent=False,
        ),
        _model(
            "openai.gpt-image-2-edit",
            "gpt-image-2",
            operation="edit",
            display_name="OpenAI GPT Image 2 (edit)",
            description="Edits the input image with GPT Image 2 following the prompt "
            "(whole-image edit; masks are not supported by this service yet).",
            confidence="estimated",
            flexible_sizes=True,
            transparent=False,
        ),
        _model(
            "openai.gpt-image-1.5",
            "gpt-image-1.5",
            operation="create",
            display_name="OpenAI GPT Image 1.5",
            description="Previous-generation GPT Image model; supports transparent backgrounds.",
            confidence="estimated",
            flexible_sizes=False,
            transparent=True,
        ),
        _model(
            "openai.gpt-image-1-mini",
            "gpt-image-1-mini",
            operation="create",
            display_name="OpenAI GPT Image 1 mini",
            description="Cost-efficient GPT Image model for drafts; transparent backgrounds.",
            confidence="known",
            flexible_sizes=False,
            transparent=True,
        ),
    ]


@hookimpl
def register_providers(register: Callable[[Model], None]) -> None:
    """Register the OpenAI image models."""
    for model in build_models():
        register(model)
