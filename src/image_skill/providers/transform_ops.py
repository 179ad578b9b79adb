"""``local.transform``: exact, offline image operations on an input image.

Operations (``OPERATIONS``), with their ``args``:

* ``resize``       -- exactly one of ``{width, height}`` (pixels), ``{fit}`` (long edge in
  pixels, aspect preserved) or ``{scale}`` (factor, e.g. ``0.5``).
* ``crop``         -- ``{left, top, width, height}`` in pixels; must lie inside the image.
* ``rotate``       -- ``{degrees}``, **clockwise** (like ImageMagick's ``-rotate``), -360..360.
  Multiples of 90 are lossless transposes; other angles expand the canvas.
* ``flip``         -- ``{direction}``: ``horizontal`` (mirror) or ``vertical``.
* ``grayscale``    -- no args; result mode ``L`` (``LA`` when the input has alpha).
* ``blur``         -- ``{radius}`` Gaussian radius 0.1..50 (default 2).
* ``sharpen``      -- ``{percent}`` 1..500 (default 150), ``{radius}`` 0.1..50 (default 2);
  an unsharp mask.
* ``autocontrast`` -- ``{cutoff}`` percent 0..49 (default 0); alpha is left untouched.
* ``convert``      -- ``{format}`` png|jpeg|webp and/or ``{quality}`` 1..100.

The output keeps the input's format (GIF/AVIF inputs become PNG) unless converted,
honours the EXIF orientation once, and carries no metadata (EXIF, ICC, text chunks).

This module is the one place an operation is validated: ``model_parameters``
(:func:`operations_from_parameters`), the prompt grammar (``transform_grammar``) and
the executor (``transform_apply``) all go through :func:`validate_operation`, so the
three cannot disagree about what a valid operation is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from image_skill.providers.image_output import normalize_format

__all__ = [
    "MAX_OPERATIONS",
    "MAX_OUTPUT_SIDE",
    "OPERATIONS",
    "PARAMETERS_SCHEMA",
    "Operation",
    "operations_from_parameters",
    "validate_operation",
]

OPERATIONS: tuple[str, ...] = (
    "resize",
    "crop",
    "rotate",
    "flip",
    "grayscale",
    "blur",
    "sharpen",
    "autocontrast",
    "convert",
)

MAX_OUTPUT_SIDE = 8192
MAX_OPERATIONS = 32


@dataclass(frozen=True)
class Operation:
    """One validated operation; ``args`` holds normalised values (see module docs)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- validation


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int_arg(path: str, value: object, lo: int, hi: int) -> int:
    if not _is_number(value) or not float(value).is_integer():  # type: ignore[arg-type]
        raise ValueError(f"{path}: must be an integer between {lo} and {hi}")
    result = int(value)  # type: ignore[call-overload]
    if not lo <= result <= hi:
        raise ValueError(f"{path}: must be between {lo} and {hi}")
    return result


def _num_arg(
    path: str, value: object, lo: float, hi: float, *, exclusive_lo: bool = False
) -> float:
    if not _is_number(value):
        raise ValueError(f"{path}: must be a number between {lo:g} and {hi:g}")
    result = float(value)  # type: ignore[arg-type]
    if result > hi or result < lo or (exclusive_lo and result == lo):
        bound = "greater than" if exclusive_lo else "at least"
        raise ValueError(f"{path}: must be {bound} {lo:g} and at most {hi:g}")
    return result


def _format_arg(path: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: must be one of png, jpeg, jpg, webp")
    try:
        return normalize_format(value)
    except ValueError:
        raise ValueError(f"{path}: must be one of png, jpeg, jpg, webp") from None


_ALLOWED_KEYS: dict[str, frozenset[str]] = {
    "resize": frozenset({"width", "height", "fit", "scale"}),
    "crop": frozenset({"left", "top", "width", "height"}),
    "rotate": frozenset({"degrees"}),
    "flip": frozenset({"direction"}),
    "grayscale": frozenset(),
    "blur": frozenset({"radius"}),
    "sharpen": frozenset({"percent", "radius"}),
    "autocontrast": frozenset({"cutoff"}),
    "convert": frozenset({"format", "quality"}),
}


def validate_operation(name: str, args: dict[str, Any], path: str) -> Operation:
    """Validate and normalise one operation; errors carry ``path`` (e.g. ``operations[1]``)."""
    if name not in _ALLOWED_KEYS:
        raise ValueError(f"{path}.op: unknown operation; expected one of {', '.join(OPERATIONS)}")
    unknown = sorted(set(args) - _ALLOWED_KEYS[name])
    if unknown:
        raise ValueError(f"{path}: unknown field(s) for {name}: {', '.join(unknown)}")

    def need(key: str) -> Any:
        if key not in args:
            raise ValueError(f"{path}.{key}: required for {name}")
        return args[key]

    out: dict[str, Any]
    if name == "resize":
        forms = [k for k in ("fit", "scale") if k in args]
        has_wh = "width" in args or "height" in args
        if len(forms) + int(has_wh) != 1:
            raise ValueError(f"{path}: resize needs exactly one of width+height, fit or scale")
        if has_wh:
            out = {
                "width": _int_arg(f"{path}.width", need("width"), 1, MAX_OUTPUT_SIDE),
                "height": _int_arg(f"{path}.height", need("height"), 1, MAX_OUTPUT_SIDE),
            }
        elif "fit" in args:
            out = {"fit": _int_arg(f"{path}.fit", args["fit"], 1, MAX_OUTPUT_SIDE)}
        else:
            out = {"scale": _num_arg(f"{path}.scale", args["scale"], 0, 10, exclusive_lo=True)}
    elif name == "crop":
        out = {
            "left": _int_arg(f"{path}.left", need("left"), 0, 1_000_000),
            "top": _int_arg(f"{path}.top", need("top"), 0, 1_000_000),
            "width": _int_arg(f"{path}.width", need("width"), 1, MAX_OUTPUT_SIDE),
            "height": _int_arg(f"{path}.height", need("height"), 1, MAX_OUTPUT_SIDE),
        }
    elif name == "rotate":
        degrees = _num_arg(f"{path}.degrees", need("degrees"), -360, 360)
        out = {"degrees": int(degrees) if degrees.is_integer() else degrees}
    elif name == "flip":
        direction = need("direction")
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"{path}.direction: must be 'horizontal' or 'vertical'")
        out = {"direction": direction}
    elif name == "grayscale":
        out = {}
    elif name == "blur":
        out = {"radius": _num_arg(f"{path}.radius", args.get("radius", 2.0), 0.1, 50)}
    elif name == "sharpen":
        out = {
            "percent": _int_arg(f"{path}.percent", args.get("percent", 150), 1, 500),
            "radius": _num_arg(f"{path}.radius", args.get("radius", 2.0), 0.1, 50),
        }
    elif name == "autocontrast":
        out = {"cutoff": _num_arg(f"{path}.cutoff", args.get("cutoff", 0), 0, 49)}
    else:  # convert
        if "format" not in args and "quality" not in args:
            raise ValueError(f"{path}: convert needs format and/or quality")
        out = {}
        if "format" in args:
            out["format"] = _format_arg(f"{path}.format", args["format"])
        if "quality" in args:
            out["quality"] = _int_arg(f"{path}.quality", args["quality"], 1, 100)
    return Operation(name, out)


# --------------------------------------------------------------------------- parameters

_INT_SIDE: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT_SIDE}
_RADIUS: dict[str, Any] = {"type": "number", "minimum": 0.1, "maximum": 50}
_FORMAT: dict[str, Any] = {"type": "string", "enum": ["png", "jpeg", "jpg", "webp"]}
_QUALITY: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 100}


def _op_schema(op: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"op": {"const": op}, **properties},
        "required": ["op", *required],
        "additionalProperties": False,
    }


#: JSON Schema (Draft 2020-12) for ``model_parameters`` accepted by
#: :func:`operations_from_parameters`.
PARAMETERS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "local.transform model_parameters",
    "type": "object",
    "properties": {
        "operations": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_OPERATIONS,
            "items": {
                "oneOf": [
                    _op_schema(
                        "resize", {"width": _INT_SIDE, "height": _INT_SIDE}, ["width", "height"]
                    ),
                    _op_schema("resize", {"fit": _INT_SIDE}, ["fit"]),
                    _op_schema(
                        "resize",
                        {"scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 10}},
                        ["scale"],
                    ),
                    _op_schema(
                        "crop",
                        {
                            "left": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                            "top": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                            "width": _INT_SIDE,
                            "height": _INT_SIDE,
                        },
                        ["left", "top", "width", "height"],
                    ),
                    _op_schema(
                        "rotate",
                        {"degrees": {"type": "number", "minimum": -360, "maximum": 360}},
                        ["degrees"],
                    ),
                    _op_schema(
                        "flip",
                        {"direction": {"type": "string", "enum": ["horizontal", "vertical"]}},
                        ["direction"],
                    ),
                    _op_schema("grayscale", {}, []),
                    _op_schema("blur", {"radius": _RADIUS}, []),
                    _op_schema(
                        "sharpen",
                        {
                            "percent": {"type": "integer", "minimum": 1, "maximum": 500},
                            "radius": _RADIUS,
                        },
                        [],
                    ),
                    _op_schema(
                        "autocontrast",
                        {"cutoff": {"type": "number", "minimum": 0, "maximum": 49}},
                        [],
                    ),
                    {
                        **_op_schema("convert", {"format": _FORMAT, "quality": _QUALITY}, []),
                        "anyOf": [{"required": ["format"]}, {"required": ["quality"]}],
                    },
                ]
            },
        },
        "output_format": _FORMAT,
        "quality": _QUALITY,
    },
    "minProperties": 1,
    "additionalProperties": False,
}


def operations_from_parameters(params: dict[str, Any]) -> list[Operation]:
    """Build operations from ``model_parameters``.

    Shape: ``{"operations": [{"op": "resize", "width": 512, "height": 512}, ...],
    "output_format": "webp", "quality": 80}``; every key optional but at least one
    required. Top-level ``output_format``/``quality`` become a trailing ``convert``.
    Raises ``ValueError`` whose message starts with the offending field path.
    """
    if not isinstance(params, dict):
        raise ValueError("model_parameters: must be an object")
    unknown = sorted(set(params) - {"operations", "output_format", "quality"})
    if unknown:
        raise ValueError(f"model_parameters: unknown field(s): {', '.join(map(str, unknown))}")
    raw_ops = params.get("operations", [])
    if not isinstance(raw_ops, list):
        raise ValueError("operations: must be an array")
    if len(raw_ops) > MAX_OPERATIONS:
        raise ValueError(f"operations: at most {MAX_OPERATIONS} operations are allowed")
    result: list[Operation] = []
    for index, raw in enumerate(raw_ops):
        path = f"operations[{index}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: must be an object with an 'op' field")
        name = raw.get("op")
        if not isinstance(name, str):
            raise ValueError(f"{path}.op: required; one of {', '.join(OPERATIONS)}")
        result.append(validate_operation(name, {k: v for k, v in raw.items() if k != "op"}, path))
    trailing: dict[str, Any] = {}
    if "output_format" in params:
        trailing["format"] = _format_arg("output_format", params["output_format"])
    if "quality" in params:
        trailing["quality"] = _int_arg("quality", params["quality"], 1, 100)
    if trailing:
        result.append(Operation("convert", trailing))
    if not result:
        raise ValueError(
            "operations: at least one operation (or output_format/quality) is required"
        )
    return result
