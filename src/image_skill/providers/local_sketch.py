"""``local.sketch``: an offline, deterministic procedural renderer.

It is an honest stand-in for a generative model: same prompt and seed, same
picture; no network, no weights, no cost. It lets a fresh machine exercise
the whole create -> asset -> edit loop.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from image_skill.providers.base import (
    EXECUTION_KEY,
    GeneratedImage,
    GenerationRequest,
    Model,
    parameters_schema,
)
from image_skill.providers.hookspecs import hookimpl
from image_skill.providers.image_output import (
    ENCODED_FORMATS,
    ENCODED_MEDIA_TYPES,
    dimensions_for,
)
from image_skill.providers.sketch_render import render_sketch

ASPECT_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "5:4", "4:5")

PARAMETERS_SCHEMA = parameters_schema(
    "local.sketch model_parameters",
    {
        "seed": {
            "type": "integer",
            "minimum": 0,
            "maximum": 4294967295,
            "description": "Same prompt + seed gives the same image.",
            EXECUTION_KEY: "executable",
        },
        "long_edge": {
            "type": "integer",
            "minimum": 64,
            "maximum": 4096,
            "default": 1024,
            "description": "Pixels on the longer side; the other follows the aspect ratio.",
            EXECUTION_KEY: "executable",
        },
        "quality": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
            "description": "JPEG/WebP quality (ignored for PNG).",
            EXECUTION_KEY: "executable",
        },
        "negative_prompt": {
            "type": "string",
            "maxLength": 2000,
            "description": "Listed for parity with generative models; the renderer cannot "
            "honour it, so it is refused at run time.",
            EXECUTION_KEY: "planning_only",
        },
    },
)


class LocalSketch(Model):
    """The procedural renderer as a model."""

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Render off the event loop (it is CPU work)."""
        params = request.parameters
        width, height = dimensions_for(request.aspect_ratio, int(params.get("long_edge", 1024)))
        rendered = await anyio.to_thread.run_sync(
            lambda: render_sketch(
                request.prompt,
                seed=params.get("seed"),
                width=width,
                height=height,
                output_format=request.output_format or "png",
                quality=params.get("quality"),
            ),
            abandon_on_cancel=True,  # a timeout returns at once; the render is discarded
        )
        return [GeneratedImage(rendered.data, rendered.mime_type, rendered.width, rendered.height)]


def build() -> LocalSketch:
    """The ``local.sketch`` model."""
    return LocalSketch(
        model_id="local.sketch",
        provider="local",
        display_name="Local procedural sketch",
        description="Offline deterministic renderer of abstract compositions seeded by the "
        "prompt. Not a generative model: use it to test workflows without network or cost.",
        operations=("create",),
        parameters_schema=PARAMETERS_SCHEMA,
        media_inputs=("text/plain",),
        media_outputs=ENCODED_MEDIA_TYPES,
        aspect_ratios=ASPECT_RATIOS,
        output_formats=ENCODED_FORMATS,
        fixed_controls={"output_count": 1, "text_rendering": False},
        pricing_confidence="known",
        latency_class="instant",
        safety={"moderation": "service_prompt_policy", "provider_moderation": False},
        stand_in=True,
        migration_hints=(
            "Switch to a generative model (see models list) for real imagery; "
            "seed and aspect_ratio carry over where the target model supports them.",
        ),
    )


@hookimpl
def register_providers(register: Callable[[Model], None]) -> None:
    """Register ``local.sketch``."""
    register(build())
