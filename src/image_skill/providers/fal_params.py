"""What the fal models accept and cost: parameter schemas, fal arguments and prices.

The schemas use fal's own field names, so a validated ``model_parameters`` object is
passed to fal as it is; fields fal offers but this service cannot run safely (a
synchronous mode that leaves no request to recover, a custom size with an unknown
price) are listed as ``planning_only``: documented for planning, refused at run time.
"""

from __future__ import annotations

import io
from typing import Any

import pybase64
from PIL import Image

from image_skill.contract.errors import invalid_arguments
from image_skill.providers.base import EXECUTION_KEY, GenerationRequest, parameters_schema
from image_skill.providers.fal_queue import MIME_BY_PIL

NANO_EDIT_ENDPOINT = "fal-ai/nano-banana-2/edit"
FLUX_DEV_ENDPOINT = "fal-ai/flux/dev"

# fal's published prices (fal.ai/models/<endpoint>; "subject to change").
NANO_USD_PER_IMAGE = 0.08
NANO_RESOLUTION_FACTOR = {"0.5K": 0.75, "1K": 1.0, "2K": 1.5, "4K": 2.0}
NANO_WEB_SEARCH_USD = 0.015
NANO_HIGH_THINKING_USD = 0.002
FLUX_USD_PER_MEGAPIXEL = 0.025  # billed per megapixel, rounded up; every preset is <= 1 MP

NANO_ASPECT_RATIOS = (
    "auto", "1:1", "21:9", "16:9", "3:2", "4:3", "5:4", "4:5", "3:4", "2:3", "9:16",
    "4:1", "1:4", "8:1", "1:8",
)  # fmt: skip
FLUX_IMAGE_SIZES = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}


def _seed() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 0,
        "maximum": 4294967295,
        "description": "Same prompt + seed + inputs: same image on the same model version.",
        EXECUTION_KEY: "executable",
    }


def _num_images() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": 4,
        "default": 1,
        "description": "Images per call; each is billed.",
        EXECUTION_KEY: "executable",
    }


NANO_SCHEMA = parameters_schema(
    "fal.nano-banana-2-edit model_parameters",
    {
        "seed": _seed(),
        "num_images": _num_images(),
        "resolution": {
            "enum": list(NANO_RESOLUTION_FACTOR),
            "default": "1K",
            "description": "Output resolution; 0.5K bills 0.75x, 2K 1.5x, 4K 2x.",
            EXECUTION_KEY: "executable",
        },
        "safety_tolerance": {
            "enum": ["1", "2", "3", "4", "5", "6"],
            "description": "Provider moderation level, 1 strictest to 6 most permissive.",
            EXECUTION_KEY: "executable",
        },
        "limit_generations": {
            "type": "boolean",
            "description": "Limit to one generation per prompt round.",
            EXECUTION_KEY: "executable",
        },
        "enable_web_search": {
            "type": "boolean",
            "description": "Let the model ground on web search (+$0.015).",
            EXECUTION_KEY: "executable",
        },
        "thinking_level": {
            "enum": ["minimal", "high"],
            "description": "Model thinking; 'high' adds $0.002.",
            EXECUTION_KEY: "executable",
        },
        "sync_mode": {
            "type": "boolean",
            "description": "fal returns data URIs and keeps no request history; refused, "
            "because a timed-out job could then never be recovered.",
            EXECUTION_KEY: "planning_only",
        },
    },
)

FLUX_SCHEMA = parameters_schema(
    "fal.flux-dev model_parameters",
    {
        "seed": _seed(),
        "num_images": _num_images(),
        "num_inference_steps": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50,
            "default": 28,
            "description": "More steps: higher quality, slower.",
            EXECUTION_KEY: "executable",
        },
        "guidance_scale": {
            "type": "number",
            "minimum": 1,
            "maximum": 20,
            "default": 3.5,
            "description": "How closely to follow the prompt (CFG scale).",
            EXECUTION_KEY: "executable",
        },
        "enable_safety_checker": {
            "type": "boolean",
            "default": True,
            "description": "fal's NSFW checker; flagged images are withheld.",
            EXECUTION_KEY: "executable",
        },
        "acceleration": {
            "enum": ["none", "regular", "high"],
            "default": "none",
            "description": "Faster generation at some quality cost.",
            EXECUTION_KEY: "executable",
        },
        "image_size": {
            "description": "fal's custom {width, height}; not executed here: choose "
            "aspect_ratio (mapped to fal's <= 1 MP presets) so the price stays known.",
            EXECUTION_KEY: "planning_only",
        },
        "sync_mode": {
            "type": "boolean",
            "description": "fal returns data URIs and keeps no request history; refused.",
            EXECUTION_KEY: "planning_only",
        },
    },
)


def _data_uri(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        mime = MIME_BY_PIL.get(image.format or "", "image/png")
    return f"data:{mime};base64,{pybase64.b64encode_as_string(data)}"


def _with_request_options(arguments: dict[str, Any], request: GenerationRequest) -> dict[str, Any]:
    """``arguments`` plus the output format and the validated ``model_parameters``."""
    if request.output_format:
        arguments["output_format"] = request.output_format
    # Validated against the schema before any spend: only its executable fields remain,
    # and they carry fal's own names.
    arguments.update(request.parameters)
    return arguments


def nano_arguments(request: GenerationRequest) -> dict[str, Any]:
    """fal-ai/nano-banana-2/edit input (the input image inlined as a data URI)."""
    if not request.input_images:
        raise invalid_arguments("An input image is required to edit.", field="input_asset_id")
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "image_urls": [_data_uri(data) for data in request.input_images],
        "aspect_ratio": request.aspect_ratio or "auto",
    }
    return _with_request_options(arguments, request)


def nano_price(parameters: dict[str, Any]) -> float:
    """$0.08 at 1K, scaled by resolution, plus web search / high thinking surcharges."""
    price = NANO_USD_PER_IMAGE * NANO_RESOLUTION_FACTOR[str(parameters.get("resolution", "1K"))]
    if parameters.get("enable_web_search"):
        price += NANO_WEB_SEARCH_USD
    if parameters.get("thinking_level") == "high":
        price += NANO_HIGH_THINKING_USD
    return price


def flux_arguments(request: GenerationRequest) -> dict[str, Any]:
    """fal-ai/flux/dev input."""
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "image_size": FLUX_IMAGE_SIZES.get(request.aspect_ratio, "square_hd"),
    }
    return _with_request_options(arguments, request)


def flux_price(parameters: dict[str, Any]) -> float:
    """$0.025 per (rounded-up) megapixel; every preset we send is at most 1 MP."""
    return FLUX_USD_PER_MEGAPIXEL
