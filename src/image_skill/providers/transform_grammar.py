"""The prompt grammar of ``local.transform``: "rotate 90, grayscale" -> operations.

An edit prompt with no ``model_parameters`` is read as a list of short instructions,
each matched whole against a fixed set of patterns. Anything unmatched is refused
rather than guessed, and the refusal never echoes the prompt (it may be private);
it lists what is understood instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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

_Groups = tuple[Any, ...]


def _op(name: str, **arguments: Any) -> Operation:
    return validate_operation(name, arguments, name)


def _optional(name: str, key: str, text: str | None, cast: Callable[[str], Any]) -> Operation:
    """``name`` with ``key`` only when the instruction gave a value."""
    return validate_operation(name, {} if text is None else {key: cast(text)}, name)


def _rotate(g: _Groups) -> Operation:
    degrees = float(g[0])
    if g[1] is not None and g[1] not in ("clockwise", "cw"):
        degrees = -degrees
    return _op("rotate", degrees=degrees)


def _crop(g: _Groups) -> Operation:
    return _op("crop", width=int(g[0]), height=int(g[1]), left=int(g[2]), top=int(g[3]))


def _convert(g: _Groups) -> Operation:
    if g[1] is None:
        return _op("convert", format=g[0])
    return _op("convert", format=g[0], quality=int(g[1]))


# Each instruction pattern (matched whole, on the lower-cased fragment) and the
# operation it stands for, built from the pattern's groups.
_RULES: list[tuple[re.Pattern[str], Callable[[_Groups], Operation]]] = [
    (
        re.compile(
            rf"(?:(?:convert|make|turn){_IT}(?:\s+(?:to|into))?\s+)?"
            r"(?:grayscale|greyscale|gray|grey|monochrome|b&w)"
        ),
        lambda _g: _op("grayscale"),
    ),
    (
        re.compile(
            rf"rotate{_IT}(?:\s+by)?\s+{_NUM}\s*(?:degrees?|deg|°)?"
            r"(?:\s+(clockwise|cw|counterclockwise|counter-clockwise|anticlockwise|"
            r"anti-clockwise|ccw))?"
        ),
        _rotate,
    ),
    (
        re.compile(rf"flip{_IT}\s+(horizontal|horizontally|vertical|vertically)"),
        lambda g: _op(
            "flip", direction="horizontal" if g[0].startswith("horizontal") else "vertical"
        ),
    ),
    (
        re.compile(rf"mirror{_IT}(?:\s+(horizontally|horizontal|vertically|vertical))?"),
        lambda g: _op(
            "flip", direction="vertical" if g[0] and g[0].startswith("vertical") else "horizontal"
        ),
    ),
    (
        re.compile(
            rf"(?:resize|scale){_IT}(?:\s+to)?\s+(\d+)\s*[x\u00d7*]\s*(\d+)(?:\s*(?:px|pixels))?"
        ),
        lambda g: _op("resize", width=int(g[0]), height=int(g[1])),
    ),
    (
        re.compile(rf"(?:resize|scale){_IT}(?:\s+(?:to|by))?\s+(\d+(?:\.\d+)?)\s*%"),
        lambda g: _op("resize", scale=float(g[0]) / 100.0),
    ),
    (
        re.compile(
            rf"(?:(?:resize|scale){_IT}(?:\s+to)?\s+)?fit(?:\s+(?:within|in|to))?\s+(\d+)"
            r"(?:\s*(?:px|pixels))?"
        ),
        lambda g: _op("resize", fit=int(g[0])),
    ),
    (re.compile(rf"crop{_IT}(?:\s+to)?\s+(\d+)\s*x\s*(\d+)\s+at\s+(\d+)/(\d+)"), _crop),
    (re.compile(rf"crop{_IT}(?:\s+to)?\s+(\d+)\s*x\s*(\d+)\s*\+(\d+)\s*\+(\d+)"), _crop),
    (
        re.compile(
            rf"(?:gaussian\s+)?blur{_IT}(?:\s+(?:by|radius|with radius))?"
            r"(?:\s+(\d+(?:\.\d+)?)(?:\s*(?:px|pixels))?)?"
        ),
        lambda g: _optional("blur", "radius", g[0], float),
    ),
    (
        re.compile(rf"sharpen{_IT}(?:\s+(?:by\s+)?(\d+)\s*%?)?"),
        lambda g: _optional("sharpen", "percent", g[0], int),
    ),
    (
        re.compile(
            rf"(?:apply\s+)?auto[\s-]?contrast{_IT}(?:\s+(?:cutoff\s+)?(\d+(?:\.\d+)?)\s*%?)?"
        ),
        lambda g: _optional("autocontrast", "cutoff", g[0], float),
    ),
    (
        re.compile(
            rf"(?:convert|save|export|encode|output){_IT}(?:\s+(?:to|as))?\s+(png|jpeg|jpg|webp)"
            r"(?:\s+(?:at\s+|with\s+)?quality\s+(\d+)\s*%?)?"
        ),
        _convert,
    ),
    (
        re.compile(r"(?:set\s+)?quality(?:\s+(?:to|of)|:)?\s*(\d+)\s*%?"),
        lambda g: validate_operation("convert", {"quality": int(g[0])}, "quality"),
    ),
]


def _fragment_to_operation(fragment: str) -> Operation:
    for pattern, build in _RULES:
        m = pattern.fullmatch(fragment)
        if m is not None:
            return build(m.groups())
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
