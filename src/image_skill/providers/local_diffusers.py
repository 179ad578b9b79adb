"""``local.diffusers``: a diffusers pipeline on this machine's GPU or CPU.

Optional: it needs the ``image-skill[diffusers]`` extra and a pipeline saved
with ``save_pretrained`` in the directory named by
``IMAGE_SKILL_DIFFUSERS_MODEL_DIR``; weights are never fetched from a hub.
Create runs the pipeline as text-to-image, edit runs its image-to-image form
on the same weights. Importing this module stays cheap (the catalog and the
CLI list it without torch): ``diffusers_pipelines`` imports the heavy
libraries on the first generation. Errors name variables, never the
directory, and never repeat library messages (they can carry paths or the
prompt).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import anyio
from PIL import Image, ImageOps

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.providers import diffusers_pipelines as pipelines
from image_skill.providers.base import (
    Availability,
    GeneratedImage,
    GenerationRequest,
    Model,
    Operation,
    content_refused,
    executable,
    parameters_schema,
    provider_failed,
)
from image_skill.providers.diffusers_pipelines import DEVICE_ENV, DEVICES, MODEL_DIR_ENV
from image_skill.providers.hookspecs import hookimpl
from image_skill.providers.image_output import (
    ENCODED_FORMATS,
    ENCODED_MEDIA_TYPES,
    dimensions_for,
    encode_image,
)
from image_skill.providers.local_sketch import ASPECT_RATIOS as SKETCH_ASPECT_RATIOS

log = logging.getLogger("image_skill.providers.diffusers")

MODEL_ID = "local.diffusers"
EXTRA_MODULES = ("torch", "diffusers", "transformers")
INSTALL_HINT = "install torch for this machine, then pip install 'image-skill[diffusers]'"
DEFAULT_STEPS = 30
DEFAULT_STRENGTH = 0.6
MIN_EDGE, MAX_EDGE, EDGE_STEP = 64, 2048, 16


PARAMETERS_SCHEMA = parameters_schema(
    f"{MODEL_ID} model_parameters",
    {
        "seed": executable(
            {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
            "Same prompt, parameters and seed on the same device give the same image.",
        ),
        "num_inference_steps": executable(
            {"type": "integer", "minimum": 1, "maximum": 150, "default": DEFAULT_STEPS},
            "Denoising steps: more is slower and usually cleaner.",
        ),
        "guidance_scale": executable(
            {"type": "number", "minimum": 0, "maximum": 30},
            "How closely to follow the prompt (default: the pipeline's own; distilled "
            "turbo models want 0).",
        ),
        "negative_prompt": executable(
            {"type": "string", "maxLength": 2000}, "What the image should not show."
        ),
        "strength": executable(
            {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": DEFAULT_STRENGTH},
            "Edit only: how far to move away from the input image (1 ignores it). "
            "strength x num_inference_steps must be at least 1.",
        ),
        "long_edge": executable(
            {"type": "integer", "minimum": MIN_EDGE, "maximum": MAX_EDGE, "multipleOf": EDGE_STEP},
            "Pixels on the longer side; the other follows the aspect ratio (edit 'auto': the "
            "input's), rounded to a multiple of 16. Default: the model's native size.",
        ),
    },
)


def _invalid(field: str, message: str) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.MODEL_PARAMETERS_INVALID,
        f"model_parameters.{field}: {message}",
        details={"field": f"model_parameters.{field}"},
        recovery={"suggested_command": f"image-skill models show {MODEL_ID} --json"},
    )


def _device_choice() -> str:
    return (os.environ.get(DEVICE_ENV) or "auto").strip().lower()


def _round_edge(value: float) -> int:
    return max(EDGE_STEP, round(value / EDGE_STEP) * EDGE_STEP)


def _edit_input(data: bytes, aspect_ratio: str, long_edge: int) -> Image.Image:
    """The input image cropped to the aspect ratio (``auto``: its own) and resized."""
    with Image.open(io.BytesIO(data)) as opened:
        source = ImageOps.exif_transpose(opened).convert("RGB")
    if aspect_ratio == "auto":
        scale = long_edge / max(source.size)
        size = (_round_edge(source.width * scale), _round_edge(source.height * scale))
    else:
        size = dimensions_for(aspect_ratio, long_edge)
    return ImageOps.fit(source, size, Image.Resampling.LANCZOS)


def _render(request: GenerationRequest, abandoned: threading.Event) -> GeneratedImage:
    """Load (once), run and encode: blocking work for a worker thread."""
    loaded = pipelines.load(os.environ.get(MODEL_DIR_ENV, ""), _device_choice())
    params = request.parameters
    native = min(MAX_EDGE, max(MIN_EDGE, _round_edge(loaded.native_size)))
    long_edge = int(params.get("long_edge", native))
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "num_inference_steps": params.get("num_inference_steps", DEFAULT_STEPS),
    }
    arguments.update({k: params[k] for k in ("guidance_scale", "negative_prompt") if k in params})
    if request.operation == "edit":
        arguments["image"] = _edit_input(request.input_images[0], request.aspect_ratio, long_edge)
        arguments["strength"] = params.get("strength", DEFAULT_STRENGTH)
    else:
        ratio = "1:1" if request.aspect_ratio == "auto" else request.aspect_ratio
        arguments["width"], arguments["height"] = dimensions_for(ratio, long_edge)
    result = pipelines.run(loaded, request.operation, arguments, params.get("seed"), abandoned)
    if any(getattr(result, "nsfw_content_detected", None) or ()):
        raise content_refused(
            "The model's own safety checker flagged the image (not this service's policy); "
            "nothing was stored."
        )
    encoded = encode_image(result.images[0], request.output_format or "png")
    return GeneratedImage(encoded.data, encoded.mime_type, encoded.width, encoded.height)


def error_for(exc: Exception) -> ImageSkillError:
    """Our code for a failure; the library's message is inspected, never repeated."""
    if isinstance(exc, pipelines.PipelineUnavailable):
        return ImageSkillError(
            ErrorCode.MODEL_NOT_CONFIGURED,
            f"{MODEL_ID} could not start: {exc} Fix {exc.variable} in the service environment.",
            details={"missing_env": [exc.variable]},
            recovery={"suggested_command": f"image-skill models show {MODEL_ID} --json"},
        )
    log.warning("local.diffusers failed", extra={"error_type": type(exc).__name__})
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate" in text:
        return provider_failed(
            "The local diffusers pipeline ran out of memory; try a smaller long_edge.",
            retryable=False,
        )
    return provider_failed("The local diffusers pipeline failed to produce an image.")


class LocalDiffusers(Model):
    """A locally saved diffusers pipeline as a create + edit model."""

    def availability(self) -> Availability:
        """Configured when the extra is installed, the directory holds a saved pipeline
        and the device is one we know (cheap checks: nothing heavy is imported)."""
        missing: list[str] = []
        hints: list[str] = []
        if not all(importlib.util.find_spec(name) for name in EXTRA_MODULES):
            hints.append(INSTALL_HINT)
        directory = os.environ.get(MODEL_DIR_ENV)
        if not directory:
            missing.append(MODEL_DIR_ENV)
            hints.append(f"set {MODEL_DIR_ENV} to a local directory written by save_pretrained")
        elif not os.path.isfile(os.path.join(directory, "model_index.json")):
            missing.append(MODEL_DIR_ENV)
            hints.append(
                f"{MODEL_DIR_ENV} must name a directory written by save_pretrained "
                "(with model_index.json)"
            )
        if _device_choice() not in DEVICES:
            missing.append(DEVICE_ENV)
            hints.append(f"{DEVICE_ENV} must be one of {', '.join(DEVICES)}")
        if not hints:
            return Availability(configured=True)
        return Availability(False, tuple(missing), how_to_enable="; ".join(hints))

    def check_request(self, operation: Operation, prompt: str, parameters: dict[str, Any]) -> None:
        """strength belongs to edit, and an edit must keep at least one denoising step."""
        if operation == "create" and "strength" in parameters:
            raise _invalid("strength", "applies to edit only")
        steps = parameters.get("num_inference_steps", DEFAULT_STEPS)
        if operation == "edit" and int(steps * parameters.get("strength", DEFAULT_STRENGTH)) < 1:
            raise _invalid("strength", "strength x num_inference_steps must be at least 1")

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Run off the event loop; a caller that stops waiting stops the run too."""
        abandoned = threading.Event()
        try:
            image = await anyio.to_thread.run_sync(
                lambda: _render(request, abandoned), abandon_on_cancel=True
            )
        except ImageSkillError:
            raise
        except Exception as exc:
            raise error_for(exc) from None
        finally:
            abandoned.set()
        return [image]


def build() -> LocalDiffusers:
    """The ``local.diffusers`` model."""
    return LocalDiffusers(
        model_id=MODEL_ID,
        provider="local",
        display_name="Local diffusers pipeline",
        description="A diffusers pipeline (Stable Diffusion, SDXL and the like) saved in a "
        f"local directory named by {MODEL_DIR_ENV}, run on this machine's GPU when present, "
        "else on the CPU. Create is text-to-image; edit is image-to-image on the same "
        "weights. Needs the image-skill[diffusers] extra.",
        operations=("create", "edit"),
        parameters_schema=PARAMETERS_SCHEMA,
        media_inputs=("text/plain", "image/png", "image/jpeg", "image/webp"),
        media_outputs=ENCODED_MEDIA_TYPES,
        aspect_ratios=(*SKETCH_ASPECT_RATIOS, "auto"),
        output_formats=ENCODED_FORMATS,
        fixed_controls={"output_count": 1, "weights": "local directory only, never a hub"},
        pricing_confidence="known",
        latency_class="slow",
        safety={
            "moderation": "service_prompt_policy",
            "provider_moderation": "the pipeline's own safety checker, when it has one",
            "provider_refusal_code": "CONTENT_POLICY_DENIED",
        },
        migration_hints=(
            "seed, negative_prompt and aspect_ratio carry over to hosted models that take them.",
            "Calls on the loaded pipeline run one at a time; on a CPU allow minutes per image "
            "(IMAGE_SKILL_PROVIDER_TIMEOUT_SECONDS).",
        ),
    )


@hookimpl
def register_providers(register: Callable[[Model], None]) -> None:
    """Register ``local.diffusers``."""
    register(build())
