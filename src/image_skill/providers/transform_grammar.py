"""The prompt grammar of ``local.transform``: "rotate 90, grayscale" -> operations.

An edit prompt with no ``model_parameters`` is read as a list of short instructions,
each matched whole against a fixed set of patterns. Anything unmatched is refused
rather than guessed, and the refusal never echoes the prompt (it may be private);
it lists what is understood instead.
"""

from __future__ import annotations

import re
from typing import Any

from image_skill.providers.transform_ops import MAX_OPERATIONS, Operation, validate_operation

__all__ = ["GRAMMAR_SUMMARY", "InstructionNotUnderstood", "parse_instructions"]

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
            return validate_operation("grayscale", {}, path)
        if kind == "rotate":
            degrees = float(g[0])
            if g[1] is not None and g[1] not in ("clockwise", "cw"):
                degrees = -degrees
            return validate_operation("rotate", {"degrees": degrees}, "rotate")
        if kind == "flip":
            direction = "horizontal" if g[0].startswith("horizontal") else "vertical"
            return validate_operation("flip", {"direction": direction}, "flip")
        if kind == "mirror":
            direction = "vertical" if g[0] and g[0].startswith("vertical") else "horizontal"
            return validate_operation("flip", {"direction": direction}, "flip")
        if kind == "resize_wh":
            return validate_operation("resize", {"width": int(g[0]), "height": int(g[1])}, "resize")
        if kind == "resize_pct":
            return validate_operation("resize", {"scale": float(g[0]) / 100.0}, "resize")
        if kind == "resize_fit":
            return validate_operation("resize", {"fit": int(g[0])}, "resize")
        if kind in ("crop_at", "crop_plus"):
            args = {"width": int(g[0]), "height": int(g[1]), "left": int(g[2]), "top": int(g[3])}
            return validate_operation("crop", args, "crop")
        if kind == "blur":
            return validate_operation(
                "blur", {} if g[0] is None else {"radius": float(g[0])}, "blur"
            )
        if kind == "sharpen":
            return validate_operation(
                "sharpen", {} if g[0] is None else {"percent": int(g[0])}, "sharpen"
            )
        if kind == "autocontrast":
            cutoff = {} if g[0] is None else {"cutoff": float(g[0])}
            return validate_operation("autocontrast", cutoff, "autocontrast")
        if kind == "convert":
            convert_args: dict[str, Any] = {"format": g[0]}
            if g[1] is not None:
                convert_args["quality"] = int(g[1])
            return validate_operation("convert", convert_args, "convert")
        return validate_operation("convert", {"quality": int(g[0])}, "quality")
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
