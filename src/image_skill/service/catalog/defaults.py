"""Which model a request that names none runs on, and why; and what a stand-in says.

An agent that asks for "a red fox in snow" must get a fox whenever this service
can make one. So the default is, in order: the operator's setting
(``IMAGE_SKILL_DEFAULT_CREATE_MODEL`` / ``IMAGE_SKILL_DEFAULT_EDIT_MODEL``), else
the first *configured* model of ``PREFERENCE`` (best first), else the offline
stand-in. Third-party plugin models become defaults only through the setting.
A stand-in's result carries a notice naming the one step that turns a real
model on, so a wrong image is never reported as a success without a word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.providers.base import Model, Operation
from image_skill.service.settings import Settings

STAND_IN_CODE = "STAND_IN_MODEL"
ReasonCode = Literal["requested", "setting", "best_configured", "stand_in_fallback"]

# Best first. Only these become defaults without a setting (docs/api.md says so).
PREFERENCE: dict[Operation, tuple[str, ...]] = {
    "create": (
        "openai.gpt-image-2",
        "fal.flux-dev",
        "openai.gpt-image-1.5",
        "openai.gpt-image-1-mini",
        "xai.grok-imagine-image",
        "local.diffusers",
    ),
    "edit": ("openai.gpt-image-2-edit", "fal.nano-banana-2-edit", "local.diffusers"),
}
STAND_INS: dict[Operation, str] = {"create": "local.sketch", "edit": "local.transform"}
_SETTING_ENV: dict[Operation, str] = {
    "create": "IMAGE_SKILL_DEFAULT_CREATE_MODEL",
    "edit": "IMAGE_SKILL_DEFAULT_EDIT_MODEL",
}


@dataclass(frozen=True)
class ModelChoice:
    """The model a request runs on and why it was chosen."""

    model_id: str
    reason: ReasonCode
    message: str

    def view(self) -> dict[str, Any]:
        """Public form (``default_reason``)."""
        return {"model_id": self.model_id, "reason": self.reason, "message": self.message}


def choose(models: Mapping[str, Model], settings: Settings, operation: Operation) -> ModelChoice:
    """The default ``operation`` model: the setting, the best configured one, or the stand-in."""
    setting = (
        settings.default_create_model if operation == "create" else settings.default_edit_model
    )
    if setting:
        return ModelChoice(setting, "setting", f"set by {_SETTING_ENV[operation]}")
    for model_id in PREFERENCE[operation]:
        model = models.get(model_id)
        if model and operation in model.operations and model.availability().configured:
            return ModelChoice(
                model_id,
                "best_configured",
                "the first configured model in the documented order "
                f"({', '.join(PREFERENCE[operation])})",
            )
    return ModelChoice(
        STAND_INS[operation],
        "stand_in_fallback",
        f"no real {operation} model is configured; {_enable_hint(models, operation)}",
    )


def is_stand_in(models: Mapping[str, Model], model_id: str | None) -> bool | None:
    """Whether ``model_id`` is a stand-in here (None when no such model is registered)."""
    model = models.get(model_id) if model_id else None
    return None if model is None else model.stand_in


def requested(model_id: str) -> ModelChoice:
    """The choice when the request named its model."""
    return ModelChoice(model_id, "requested", "named by the request")


def stand_in_notice(
    models: Mapping[str, Model], model: Model, operation: Operation
) -> dict[str, Any]:
    """What a stand-in's result says: that it is one, and how to get a real model."""
    real = _real_configured(models, operation)
    if real:
        step = f"rerun with --model {real}"
        command = f"image-skill models show {real}"
    else:
        step = _enable_hint(models, operation)
        command = "image-skill models list"
    return {
        "code": STAND_IN_CODE,
        "model_id": model.model_id,
        "message": f"{model.model_id} is a stand-in, not a generative model: "
        "the image does not follow the prompt.",
        "how_to_enable": step,
        "suggested_command": command,
    }


def stand_in_warning(notice: Mapping[str, Any]) -> str:
    """The envelope warning for a stand-in notice (starts with its stable code)."""
    return (
        f"{notice['code']}: {notice['message']} For a real model: {notice['how_to_enable']} "
        f"(see {notice['suggested_command']})."
    )


def point_at_generative(
    models: Mapping[str, Model], model: Model, operation: Operation, error: ImageSkillError
) -> ImageSkillError:
    """A stand-in's refusal of a prompt it cannot follow, naming the generative models.

    ``local.transform`` only knows exact operations; "remove the background" needs a
    generative model, so the refusal names the configured one or how to turn one on.
    Any other error, or any other model's, is returned unchanged.
    """
    if not model.stand_in or (error.details or {}).get("field") != "prompt":
        return error
    generative = [
        model_id
        for model_id in PREFERENCE[operation]
        if (found := models.get(model_id)) is not None and operation in found.operations
    ]
    real = _real_configured(models, operation)
    if real:
        hint = f"For a creative {operation}, rerun with --model {real}."
        command = f"image-skill models show {real}"
    else:
        hint = (
            f"A creative {operation} needs a generative model ({', '.join(generative)}); "
            f"none is configured: {_enable_hint(models, operation)}."
        )
        command = "image-skill models list"
    return ImageSkillError(
        ErrorCode(error.code),
        f"{error.message} {hint}",
        details={**(error.details or {}), "generative_models": generative},
        recovery={**(error.recovery or {}), "suggested_command": command},
    )


def _real_configured(models: Mapping[str, Model], operation: Operation) -> str | None:
    for model_id in PREFERENCE[operation]:
        model = models.get(model_id)
        if model and operation in model.operations and model.availability().configured:
            return model_id
    return None


def _enable_hint(models: Mapping[str, Model], operation: Operation) -> str:
    """``export KEY=...`` for the best real model, naming the alternatives' variables."""
    steps: list[str] = []
    for model_id in PREFERENCE[operation]:
        model = models.get(model_id)
        if model is None or operation not in model.operations:
            continue
        missing = model.availability().missing_env
        for name in missing:
            step = f"{name} ({model.provider})"
            if step not in steps:
                steps.append(step)
    if not steps:
        return "install a provider plugin (see image-skill models list)"
    first, others = steps[0], steps[1:]
    name = first.split(" ")[0]
    hint = f"export {name}=... in the service environment"
    if others:
        hint += f" (or {', '.join(others)})"
    return hint
