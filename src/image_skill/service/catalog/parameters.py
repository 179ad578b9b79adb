"""Fail-closed validation of ``model_parameters`` against a model's JSON Schema."""

from __future__ import annotations

from typing import Any

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.providers.base import Model


def _error(field: str, message: str, model: Model) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.MODEL_PARAMETERS_INVALID,
        f"model_parameters.{field}: {message}" if field else f"model_parameters: {message}",
        details={"field": f"model_parameters.{field}" if field else "model_parameters"},
        recovery={"suggested_command": f"image-skill models show {model.model_id} --json"},
    )


def validate_parameters(model: Model, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters if they satisfy the schema and are all executable; else raise."""
    # Imported here: jsonschema costs ~0.1 s to import, which embedded CLI calls
    # that never validate parameters (whoami, activity...) should not pay. A server
    # imports it at start-up (service/warm_up.py).
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if parameters is None:
        return {}
    params = parameters
    if not isinstance(params, dict):
        raise _error("", "must be a JSON object", model)
    validator = Draft202012Validator(model.parameters_schema)
    error = best_match(validator.iter_errors(params))
    if error is not None:
        path = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = sorted(model.parameters_schema.get("properties", {}))
            unknown = (
                sorted(set(error.instance) - set(allowed))
                if isinstance(error.instance, dict)
                else []
            )
            field = ".".join(filter(None, [path, unknown[0] if unknown else ""]))
            message = "unknown field" + (f"; allowed: {', '.join(allowed)}" if not path else "")
            raise _error(field, message, model)
        raise _error(path, error.message if len(error.message) < 200 else "invalid value", model)
    for name in model.planning_only_fields():
        if name in params:
            raise _error(
                name,
                "is planning-only for this model (documented, not executed); remove it",
                model,
            )
    return params
