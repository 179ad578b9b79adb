"""Test models, loaded as a pluggy plugin via ``IMAGE_SKILL_PLUGINS``.

* ``test.counting``: create + edit, known price ($0.04/image), counts its calls.
* ``test.unknown-price``: pricing confidence ``unknown``.
* ``test.failing``: fails in the way ``model_parameters.mode`` asks for.
* ``test.unconfigured``: needs an environment variable that is never set.

Every call of every model increments ``CALLS[model_id]`` and, when
``IMAGE_SKILL_TEST_CALL_LOG`` names a file, appends one line to it, so the
calls of a server subprocess can be counted from the test process.
"""

from __future__ import annotations

import io
import os
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
from PIL import Image

from image_skill.contract.errors import ImageSkillError
from image_skill.providers.base import (
    EXECUTION_KEY,
    GeneratedImage,
    GenerationRequest,
    Model,
)
from image_skill.providers.hookspecs import hookimpl

CALL_LOG_ENV = "IMAGE_SKILL_TEST_CALL_LOG"
UNSET_ENV = "TEST_PROVIDER_KEY_THAT_IS_NOT_SET"
SECRET = "sk-test-SECRET-never-shown"
PRICE_USD = 0.04
FAILURE_MODES = ("provider_failed", "unavailable", "crash", "slow", "refuse")
FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}

CALLS: Counter[str] = Counter()
_LOCK = threading.Lock()


def reset() -> None:
    """Forget every counted call."""
    with _LOCK:
        CALLS.clear()


def calls(model_id: str | None = None) -> int:
    """Calls counted in this process (of one model, or of all)."""
    with _LOCK:
        return CALLS[model_id] if model_id else sum(CALLS.values())


def _record(model_id: str, request: GenerationRequest) -> None:
    with _LOCK:
        CALLS[model_id] += 1
        path = os.environ.get(CALL_LOG_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(f"{model_id} {request.operation} {request.job_id}\n")


def _size(aspect_ratio: str, long_edge: int) -> tuple[int, int]:
    if aspect_ratio in ("auto", "1:1"):
        return long_edge, long_edge
    w, h = (int(part) for part in aspect_ratio.split(":"))
    if w >= h:
        return long_edge, max(1, round(long_edge * h / w))
    return max(1, round(long_edge * w / h)), long_edge


def encode(image: Image.Image, fmt: str) -> bytes:
    """``image`` in ``fmt`` (png, jpeg or webp)."""
    buffer = io.BytesIO()
    image.save(buffer, format=FORMATS[fmt][0])
    return buffer.getvalue()


class CountingModel(Model):
    """Draws a solid image of the requested shape (or transforms the input for edit)."""

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        _record(self.model_id, request)
        params = request.parameters
        if params.get("delay_ms"):
            await anyio.sleep(int(params["delay_ms"]) / 1000)
        fmt = request.output_format or "png"
        if request.operation == "edit" and request.input_images:
            with Image.open(io.BytesIO(request.input_images[0])) as source:
                image = source.convert("RGB").transpose(Image.Transpose.ROTATE_90)
        else:
            seed = int(params.get("seed", 0))
            width, height = _size(request.aspect_ratio, int(params.get("long_edge", 64)))
            image = Image.new("RGB", (width, height), (seed % 256, 120, 200))
        data = encode(image, fmt)
        return [GeneratedImage(data, FORMATS[fmt][1], image.width, image.height)]

    def estimate_usd_per_image(self, parameters: dict[str, Any]) -> float | None:
        return None if self.pricing_confidence == "unknown" else PRICE_USD


class FailingModel(Model):
    """Fails as ``model_parameters.mode`` says (default: a retryable PROVIDER_FAILED)."""

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        _record(self.model_id, request)
        mode = request.parameters.get("mode", "provider_failed")
        if mode == "unavailable":
            raise ImageSkillError(
                "PROVIDER_UNAVAILABLE", "The test provider is down.", retryable=True
            )
        if mode == "crash":
            raise RuntimeError(f"boom at /srv/secret/provider.py with key {SECRET}")
        if mode == "slow":
            await anyio.sleep(60)
        if mode == "refuse":
            raise ImageSkillError(
                "CONTENT_POLICY_DENIED", "The test provider's moderation refused the prompt."
            )
        raise ImageSkillError("PROVIDER_FAILED", "The test provider failed.", retryable=True)

    def estimate_usd_per_image(self, parameters: dict[str, Any]) -> float | None:
        return PRICE_USD


def _schema(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "seed": {"type": "integer", "minimum": 0, EXECUTION_KEY: "executable"},
        "long_edge": {
            "type": "integer",
            "minimum": 16,
            "maximum": 512,
            EXECUTION_KEY: "executable",
        },
        "delay_ms": {"type": "integer", "minimum": 0, "maximum": 5000, EXECUTION_KEY: "executable"},
        "style_strength": {
            "type": "number",
            "description": "Documented for planning; refused at run time.",
            EXECUTION_KEY: "planning_only",
        },
    }
    properties.update(extra or {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }


def _common() -> dict[str, Any]:
    return {
        "provider": "test",
        "operations": ("create", "edit"),
        "media_inputs": ("text/plain", "image/png", "image/jpeg", "image/webp"),
        "media_outputs": ("image/png", "image/jpeg", "image/webp"),
        "aspect_ratios": ("1:1", "16:9", "9:16", "4:3", "auto"),
        "output_formats": ("png", "jpeg", "webp"),
    }


def build_models() -> list[Model]:
    """The four test models."""
    return [
        CountingModel(
            model_id="test.counting",
            display_name="Counting test model",
            description="Counts its calls; draws a solid image.",
            parameters_schema=_schema(),
            **_common(),
        ),
        CountingModel(
            model_id="test.unknown-price",
            display_name="Unknown-price test model",
            description="Its cost is not known in advance.",
            parameters_schema=_schema(),
            pricing_confidence="unknown",
            **_common(),
        ),
        FailingModel(
            model_id="test.failing",
            display_name="Failing test model",
            description="Fails the way model_parameters.mode asks.",
            parameters_schema=_schema(
                {"mode": {"enum": list(FAILURE_MODES), EXECUTION_KEY: "executable"}}
            ),
            **_common(),
        ),
        CountingModel(
            model_id="test.unconfigured",
            display_name="Unconfigured test model",
            description="Needs an environment variable that is never set.",
            parameters_schema=_schema(),
            required_env=(UNSET_ENV,),
            **_common(),
        ),
    ]


@hookimpl
def register_providers(register: Callable[[Model], None]) -> None:
    """Register the test models."""
    for model in build_models():
        register(model)


# --- test.slow: a slow but well-behaved provider (provider concurrency tests) -------------

SLOW_MODEL = "test.slow"
SLOW_SECONDS_ENV = "IMAGE_SKILL_TEST_SLOW_SECONDS"
SLOW_LOG_ENV = "IMAGE_SKILL_TEST_SLOW_LOG"
_SLOW = {"in_flight": 0, "peak": 0}


def slow_peak() -> int:
    """The most ``test.slow`` calls this process has had in flight at once."""
    with _LOCK:
        return _SLOW["peak"]


def _slow_mark(event: str, job_id: str | None, delta: int) -> None:
    """Track in-flight calls; with ``IMAGE_SKILL_TEST_SLOW_LOG`` set, append
    ``<event> <job_id> <in_flight> <peak>`` so another process can read the peak."""
    with _LOCK:
        _SLOW["in_flight"] += delta
        _SLOW["peak"] = max(_SLOW["peak"], _SLOW["in_flight"])
        path = os.environ.get(SLOW_LOG_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(f"{event} {job_id} {_SLOW['in_flight']} {_SLOW['peak']}\n")


class SlowModel(CountingModel):
    """Sleeps (asynchronously) before drawing like ``test.counting``: 2 s unless
    ``model_parameters.sleep_seconds`` or ``IMAGE_SKILL_TEST_SLOW_SECONDS`` says otherwise."""

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        seconds = request.parameters.get("sleep_seconds")
        if seconds is None:
            seconds = float(os.environ.get(SLOW_SECONDS_ENV, "2"))
        _slow_mark("start", request.job_id, +1)
        try:
            await anyio.sleep(float(seconds))
            return await super().generate(request)
        finally:
            _slow_mark("end", request.job_id, -1)


def build_slow_model() -> Model:
    """``test.slow``: known price ($0.04/image), provider ``test``."""
    return SlowModel(
        model_id=SLOW_MODEL,
        display_name="Slow test model",
        description="Sleeps before answering (2 s by default); counts in-flight calls.",
        parameters_schema=_schema(
            {
                "sleep_seconds": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 60,
                    EXECUTION_KEY: "executable",
                }
            }
        ),
        **_common(),
    )


@hookimpl(specname="register_providers")
def register_slow_provider(register: Callable[[Model], None]) -> None:
    """Register ``test.slow`` (a second implementation of the same hook)."""
    register(build_slow_model())
