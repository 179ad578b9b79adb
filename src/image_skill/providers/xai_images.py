"""xAI ``grok-imagine-image`` through its OpenAI-compatible Images endpoint.

``POST {XAI_BASE_URL or https://api.x.ai/v1}/images/generations`` with the
official ``openai`` SDK; ``aspect_ratio`` and ``resolution`` are xAI extensions
sent in the JSON body. Create only: xAI's image edit takes JSON (an image URL
or data URI) rather than the multipart upload the SDK sends, so edit is not
offered here.

Pricing: xAI bills a flat fee per image, but we found no first-party price
table to cite (only resellers quoting it), so the price is ``unknown`` and the
budget guard asks for ``--accept-unknown-cost``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from image_skill.providers.base import (
    EXECUTION_KEY,
    GeneratedImage,
    GenerationRequest,
    Model,
    parameters_schema,
)
from image_skill.providers.hookspecs import hookimpl
from image_skill.providers.openai_compat import Vendor, call, decode_images, record_request_id

XAI = Vendor(
    name="xAI",
    key_env="XAI_API_KEY",
    base_url_env="XAI_BASE_URL",
    default_base_url="https://api.x.ai/v1",
)
API_MODEL = "grok-imagine-image"
ASPECT_RATIOS = ("auto", "1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")

PARAMETERS_SCHEMA = parameters_schema(
    "xai.grok-imagine-image model_parameters",
    {
        "n": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10,
            "description": "Images per call; each is billed.",
            EXECUTION_KEY: "executable",
        },
        "resolution": {
            "enum": ["1k", "2k"],
            "description": "Output resolution class (xAI extension).",
            EXECUTION_KEY: "executable",
        },
    },
)


class XaiImageModel(Model):
    """``grok-imagine-image`` generations."""

    def output_count(self, parameters: dict[str, Any]) -> int:
        return int(parameters.get("n", 1))

    def estimate_usd_per_image(self, parameters: dict[str, Any]) -> float | None:
        return None

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        params = request.parameters
        extra: dict[str, Any] = {"aspect_ratio": request.aspect_ratio}
        if "resolution" in params:
            extra["resolution"] = params["resolution"]
        client = XAI.client()  # shared: never closed here

        async def attempt() -> Any:
            return await client.images.with_raw_response.generate(
                model=API_MODEL,
                prompt=request.prompt,
                n=int(params.get("n", 1)),
                response_format="b64_json",
                extra_body=extra,
            )

        response = await call(XAI, attempt)
        await record_request_id(response, request.record_provider_request)
        return decode_images(XAI, response)


def build() -> XaiImageModel:
    """The ``xai.grok-imagine-image`` model."""
    return XaiImageModel(
        model_id="xai.grok-imagine-image",
        provider="xai",
        sdk_modules=("openai",),
        display_name="xAI Grok Imagine (image)",
        description="xAI's Grok Imagine text-to-image model via its OpenAI-compatible API.",
        operations=("create",),
        parameters_schema=PARAMETERS_SCHEMA,
        media_inputs=("text/plain",),
        media_outputs=("image/jpeg",),
        aspect_ratios=ASPECT_RATIOS,
        output_formats=("jpeg",),
        fixed_controls={"response_format": "b64_json", "output_format": "jpeg (chosen by xAI)"},
        pricing_confidence="unknown",
        latency_class="interactive",
        safety={
            "moderation": "service_prompt_policy",
            "provider_moderation": True,
            "provider_refusal_code": "CONTENT_POLICY_DENIED",
        },
        migration_hints=(
            "Use aspect_ratio (normalized) rather than a pixel size; xAI does not accept size, "
            "quality or style.",
        ),
        required_env=(XAI.key_env,),
        max_outputs=10,
    )


@hookimpl
def register_providers(register: Callable[[Model], None]) -> None:
    """Register ``xai.grok-imagine-image``."""
    register(build())
