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
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError, features

from image_skill.providers.image_output import RenderedImage, encode_image, normalize_format

__all__ = [
    "GRAMMAR_SUMMARY",
    "MAX_OUTPUT_SIDE",
    "OPERATIONS",
    "PARAMETERS_SCHEMA",
    "InstructionNotUnderstood",
    "Operation",
    "apply_operations",
    "operations_from_parameters",
    "parse_instructions",
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

GRAMMAR_SUMMARY = (
    "grayscale (or 'black and white'); rotate N [degrees] [clockwise|counterclockwise]; "
    "flip horizontal|vertical; mirror; resize to WxH; scale to N%; fit N; "
    "crop to WxH at X,Y (or crop WxH+X+Y); blur [radius]; sharpen [percent]; "
    "autocontrast [cutoff%]; convert to png|jpeg|webp; quality N. "
    "Separate instructions with ',', ';', 'then' or 'and'."
)


class InstructionNotUnderstood(ValueError):
    """The edit prompt could not be parsed. The message never echoes the prompt."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Could not understand the edit instructions. local.transform understands: "
            + GRAMMAR_SUMMARY
        )


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


def _validate(name: str, args: dict[str, Any], path: str) -> Operation:
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
        result.append(_validate(name, {k: v for k, v in raw.items() if k != "op"}, path))
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


# --------------------------------------------------------------------------- prompt grammar

_NUM = r"(-?\d+(?:\.\d+)?)"
_IT = r"(?:\s+(?:it|the image|the picture|the photo))?"
_SPLIT_RE = re.compile(r"\s*(?:[,;]|\bthen\b|\band\b)\s*")
_CROP_AT_RE = re.compile(r"\bat\s+(\d+)\s*,\s*(\d+)")

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "grayscale",
        re.compile(
            rf"(?:(?:convert|make|turn){_IT}(?:\s+(?:to|into))?\s+)?"
            r"(?:grayscale|greyscale|gray|grey|monochrome|b&w)"
        ),
    ),
    (
        "rotate",
        re.compile(
            rf"rotate{_IT}(?:\s+by)?\s+{_NUM}\s*(?:degrees?|deg|°)?"
            r"(?:\s+(clockwise|cw|counterclockwise|counter-clockwise|anticlockwise|"
            r"anti-clockwise|ccw))?"
        ),
    ),
    (
        "flip",
        re.compile(rf"flip{_IT}\s+(horizontal|horizontally|vertical|vertically)"),
    ),
    ("mirror", re.compile(rf"mirror{_IT}(?:\s+(horizontally|horizontal|vertically|vertical))?")),
    (
        "resize_wh",
        re.compile(
            rf"(?:resize|scale){_IT}(?:\s+to)?\s+(\d+)\s*[x\u00d7*]\s*(\d+)(?:\s*(?:px|pixels))?"
        ),
    ),
    ("resize_pct", re.compile(rf"(?:resize|scale){_IT}(?:\s+(?:to|by))?\s+(\d+(?:\.\d+)?)\s*%")),
    (
        "resize_fit",
        re.compile(
            rf"(?:(?:resize|scale){_IT}(?:\s+to)?\s+)?fit(?:\s+(?:within|in|to))?\s+(\d+)"
            r"(?:\s*(?:px|pixels))?"
        ),
    ),
    (
        "crop_at",
        re.compile(rf"crop{_IT}(?:\s+to)?\s+(\d+)\s*x\s*(\d+)\s+at\s+(\d+)/(\d+)"),
    ),
    ("crop_plus", re.compile(rf"crop{_IT}(?:\s+to)?\s+(\d+)\s*x\s*(\d+)\s*\+(\d+)\s*\+(\d+)")),
    (
        "blur",
        re.compile(
            rf"(?:gaussian\s+)?blur{_IT}(?:\s+(?:by|radius|with radius))?"
            r"(?:\s+(\d+(?:\.\d+)?)(?:\s*(?:px|pixels))?)?"
        ),
    ),
    ("sharpen", re.compile(rf"sharpen{_IT}(?:\s+(?:by\s+)?(\d+)\s*%?)?")),
    (
        "autocontrast",
        re.compile(
            rf"(?:apply\s+)?auto[\s-]?contrast{_IT}(?:\s+(?:cutoff\s+)?(\d+(?:\.\d+)?)\s*%?)?"
        ),
    ),
    (
        "convert",
        re.compile(
            rf"(?:convert|save|export|encode|output){_IT}(?:\s+(?:to|as))?\s+(png|jpeg|jpg|webp)"
            r"(?:\s+(?:at\s+|with\s+)?quality\s+(\d+)\s*%?)?"
        ),
    ),
    ("quality", re.compile(r"(?:set\s+)?quality(?:\s+(?:to|of)|:)?\s*(\d+)\s*%?")),
]


def _fragment_to_operation(fragment: str) -> Operation:
    for kind, pattern in _PATTERNS:
        m = pattern.fullmatch(fragment)
        if m is None:
            continue
        g = m.groups()
        path = kind
        if kind == "grayscale":
            return _validate("grayscale", {}, path)
        if kind == "rotate":
            degrees = float(g[0])
            if g[1] is not None and g[1] not in ("clockwise", "cw"):
                degrees = -degrees
            return _validate("rotate", {"degrees": degrees}, "rotate")
        if kind == "flip":
            direction = "horizontal" if g[0].startswith("horizontal") else "vertical"
            return _validate("flip", {"direction": direction}, "flip")
        if kind == "mirror":
            direction = "vertical" if g[0] and g[0].startswith("vertical") else "horizontal"
            return _validate("flip", {"direction": direction}, "flip")
        if kind == "resize_wh":
            return _validate("resize", {"width": int(g[0]), "height": int(g[1])}, "resize")
        if kind == "resize_pct":
            return _validate("resize", {"scale": float(g[0]) / 100.0}, "resize")
        if kind == "resize_fit":
            return _validate("resize", {"fit": int(g[0])}, "resize")
        if kind in ("crop_at", "crop_plus"):
            args = {"width": int(g[0]), "height": int(g[1]), "left": int(g[2]), "top": int(g[3])}
            return _validate("crop", args, "crop")
        if kind == "blur":
            return _validate("blur", {} if g[0] is None else {"radius": float(g[0])}, "blur")
        if kind == "sharpen":
            return _validate("sharpen", {} if g[0] is None else {"percent": int(g[0])}, "sharpen")
        if kind == "autocontrast":
            cutoff = {} if g[0] is None else {"cutoff": float(g[0])}
            return _validate("autocontrast", cutoff, "autocontrast")
        if kind == "convert":
            convert_args: dict[str, Any] = {"format": g[0]}
            if g[1] is not None:
                convert_args["quality"] = int(g[1])
            return _validate("convert", convert_args, "convert")
        return _validate("convert", {"quality": int(g[0])}, "quality")
    raise InstructionNotUnderstood()


def parse_instructions(prompt: str) -> list[Operation]:
    """Parse a natural-language edit prompt into operations (see ``GRAMMAR_SUMMARY``).

    Raises ``InstructionNotUnderstood`` (a ``ValueError``) for empty or unrecognised
    prompts; its message lists the understood grammar and never echoes the prompt.
    Values out of range raise ``ValueError`` naming the operation and allowed range.
    """
    if not isinstance(prompt, str):
        raise InstructionNotUnderstood()
    text = " ".join(prompt.lower().split())
    text = re.sub(r"\bblack\s*(?:and|&)\s*white\b", "grayscale", text)
    text = _CROP_AT_RE.sub(r"at \1/\2", text)
    fragments = [f.strip(" .!") for f in _SPLIT_RE.split(text)]
    fragments = [f.removeprefix("please ").strip() for f in fragments if f.strip(" .!")]
    if not fragments:
        raise InstructionNotUnderstood()
    if len(fragments) > MAX_OPERATIONS:
        raise ValueError(f"at most {MAX_OPERATIONS} instructions are allowed")
    return [_fragment_to_operation(fragment) for fragment in fragments]


# --------------------------------------------------------------------------- execution

_INPUT_FORMATS = ["PNG", "JPEG", "WEBP", "GIF"] + (["AVIF"] if features.check("avif") else [])
_KEEP_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}


def _decode(data: bytes) -> tuple[Image.Image, str]:
    """Decode the first frame; return a metadata-free image in L/LA/RGB/RGBA and its format."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise ValueError("input image is empty")
    try:
        with Image.open(BytesIO(bytes(data)), formats=_INPUT_FORMATS) as opened:
            opened.seek(0)
            opened.load()
            source_format = opened.format or "PNG"
            image = ImageOps.exif_transpose(opened)
            image = _working_mode(image)
            # A fresh image guarantees no EXIF/ICC/text chunks survive.
            clean = Image.new(image.mode, image.size)
            clean.paste(image)
    except Image.DecompressionBombError as exc:
        raise ValueError("input image is too large to decode safely") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as exc:
        names = ", ".join(_INPUT_FORMATS)
        raise ValueError(f"input is not a decodable image (supported: {names})") from exc
    return clean, _KEEP_FORMATS.get(source_format, "png")


def _working_mode(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode.startswith("I") or mode == "F":
        # 16/32-bit greyscale: stretch the used range into 8 bits.
        wide = image.convert("F")
        extrema = wide.getextrema()
        lo, hi = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        return wide.point(lambda v: (v - lo) * scale).convert("L")
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def _check_bounds(image: Image.Image, name: str) -> None:
    w, h = image.size
    if not (1 <= w <= MAX_OUTPUT_SIDE and 1 <= h <= MAX_OUTPUT_SIDE):
        raise ValueError(
            f"{name}: result would be {w}x{h}; each side must be between 1 and {MAX_OUTPUT_SIDE} px"
        )


def _with_alpha_split(image: Image.Image, fn: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply ``fn`` to the colour bands only, keeping alpha untouched."""
    if image.mode in ("LA", "RGBA"):
        alpha = image.getchannel("A")
        base = fn(image.convert(image.mode[:-1]))
        base.putalpha(alpha)
        return base
    return fn(image)


def _apply_one(image: Image.Image, op: Operation) -> Image.Image:
    a = op.args
    if op.name == "resize":
        if "fit" in a:
            factor = a["fit"] / max(image.size)
            size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        elif "scale" in a:
            size = (
                max(1, round(image.width * a["scale"])),
                max(1, round(image.height * a["scale"])),
            )
        else:
            size = (a["width"], a["height"])
        if not all(1 <= s <= MAX_OUTPUT_SIDE for s in size):
            raise ValueError(
                f"resize: result would be {size[0]}x{size[1]}; each side must be between 1 and "
                f"{MAX_OUTPUT_SIDE} px"
            )
        return image.resize(size, Image.Resampling.LANCZOS)
    if op.name == "crop":
        left, top, w, h = a["left"], a["top"], a["width"], a["height"]
        if left + w > image.width or top + h > image.height:
            raise ValueError(
                f"crop: box {w}x{h} at ({left},{top}) lies outside the "
                f"{image.width}x{image.height} image"
            )
        return image.crop((left, top, left + w, top + h))
    if op.name == "rotate":
        degrees = a["degrees"]
        turns = degrees / 90
        if float(turns).is_integer():
            quarter = int(turns) % 4  # clockwise quarter turns
            transposes = {
                1: Image.Transpose.ROTATE_270,
                2: Image.Transpose.ROTATE_180,
                3: Image.Transpose.ROTATE_90,
            }
            return image if quarter == 0 else image.transpose(transposes[quarter])
        w, h = image.size
        rad = math.radians(degrees)
        new_w = math.ceil(abs(w * math.cos(rad)) + abs(h * math.sin(rad)) - 1e-6)
        new_h = math.ceil(abs(w * math.sin(rad)) + abs(h * math.cos(rad)) - 1e-6)
        if new_w > MAX_OUTPUT_SIDE or new_h > MAX_OUTPUT_SIDE:
            raise ValueError(f"rotate: result would exceed {MAX_OUTPUT_SIDE} px per side")
        rotated = image.rotate(-degrees, resample=Image.Resampling.BICUBIC, expand=True)
        _check_bounds(rotated, "rotate")
        return rotated
    if op.name == "flip":
        if a["direction"] == "horizontal":
            return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if op.name == "grayscale":
        return image.convert("LA" if image.mode in ("LA", "RGBA") else "L")
    if op.name == "blur":
        return image.filter(ImageFilter.GaussianBlur(a["radius"]))
    if op.name == "sharpen":
        return image.filter(ImageFilter.UnsharpMask(radius=a["radius"], percent=a["percent"]))
    if op.name == "autocontrast":
        cutoff = a["cutoff"]
        return _with_alpha_split(image, lambda im: ImageOps.autocontrast(im, cutoff=cutoff))
    raise ValueError(f"unknown operation {op.name!r}")  # pragma: no cover - validated earlier


def apply_operations(
    data: bytes,
    operations: list[Operation],
    *,
    output_format: str | None = None,
    quality: int | None = None,
) -> RenderedImage:
    """Decode ``data``, apply ``operations`` in order and encode the result.

    The output format is the input's (PNG for GIF/AVIF inputs), then any ``convert``
    operations in order; explicit ``output_format``/``quality`` arguments override both.
    """
    image, fmt = _decode(data)
    chosen_quality: int | None = None
    for index, op in enumerate(operations):
        if not isinstance(op, Operation):
            raise ValueError(f"operations[{index}]: expected an Operation")
        op = _validate(op.name, dict(op.args), f"operations[{index}]")
        if op.name == "convert":
            fmt = op.args.get("format", fmt)
            chosen_quality = op.args.get("quality", chosen_quality)
            continue
        image = _apply_one(image, op)
    if output_format is not None:
        fmt = normalize_format(output_format)
    if quality is not None:
        chosen_quality = quality
    return encode_image(image, fmt, chosen_quality)
