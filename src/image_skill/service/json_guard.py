"""Parsing a JSON request body so that nothing in it can fail later as a 500.

Every value a body carries ends up somewhere: in a database text column
(PostgreSQL refuses NUL bytes), in a response (a lone UTF-16 surrogate cannot
be encoded as UTF-8), in a recursive walk (jsonschema, canonical hashing and
``json.dumps`` recurse once per nesting level). So the body is checked once,
right after parsing and before any handler runs:

* nesting depth at most ``max_depth`` (the parse itself is guarded: very deep
  input makes ``json.loads`` raise ``RecursionError``),
* no NUL character and no lone surrogate in any string or key,
* numbers that fit what they are used for: integers within 64 bits, floats
  finite (``NaN``, ``Infinity`` and ``1e400`` are refused).

The walk is iterative, so it cannot itself run out of stack. A refusal is
``INVALID_ARGUMENTS`` naming the path of the offending value
(``model_parameters.size``), or ``body`` for the depth, never the value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from image_skill.contract.errors import ErrorCode, ImageSkillError

_SURROGATE = re.compile("[\ud800-\udfff]")
_MIN_INT = -(2**63)
_MAX_INT = 2**63 - 1
# A field path is for reading, not a place for a client to store text.
_MAX_FIELD_CHARS = 200


def parse_json_body(raw: bytes | str, *, max_depth: int) -> Any:
    """The parsed body, or INVALID_ARGUMENTS; malformed JSON raises ``json.JSONDecodeError``."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise  # the framework's own "not valid JSON" answer
    except RecursionError:
        raise _too_deep(max_depth) from None
    except UnicodeDecodeError:
        raise _refusal("body", "The JSON body is not valid UTF-8.") from None
    except ValueError:  # NaN/Infinity, or an integer with thousands of digits
        raise _refusal("body", "The JSON body holds a number out of range.") from None
    check_json_value(value, max_depth=max_depth)
    return value


def check_json_value(value: Any, *, max_depth: int) -> None:
    """Raise INVALID_ARGUMENTS unless ``value`` passes the checks of this module."""
    if isinstance(value, dict | list):
        stack: list[tuple[Any, tuple[str, ...], int]] = [(value, (), 1)]
    else:
        _check_scalar(value, ())
        return
    while stack:
        container, path, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        items = (
            container.items()
            if isinstance(container, dict)
            else ((str(index), item) for index, item in enumerate(container))
        )
        for key, item in items:
            if isinstance(container, dict):
                _check_key(key, path)
            item_path = (*path, key)
            if isinstance(item, dict | list):
                stack.append((item, item_path, depth + 1))
            else:
                _check_scalar(item, item_path)


def field_name(path: tuple[str, ...]) -> str:
    """``("model_parameters", "size")`` -> ``"model_parameters.size"`` (``body`` at the top)."""
    name = ".".join(path) or "body"
    return name if len(name) <= _MAX_FIELD_CHARS else name[: _MAX_FIELD_CHARS - 3] + "..."


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or echoed (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii() and _SURROGATE.search(text) is not None:
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _check_key(key: str, path: tuple[str, ...]) -> None:
    problem = text_problem(key)
    if problem is not None:
        # The key itself cannot be echoed: name its parent.
        where = field_name(path)
        raise _refusal(where, f"{where}: a key {problem}.")


def _check_scalar(value: Any, path: tuple[str, ...]) -> None:
    problem: str | None = None
    if isinstance(value, str):
        problem = text_problem(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not _MIN_INT <= value <= _MAX_INT:
            problem = "is an integer out of range (64-bit)"
    elif isinstance(value, float) and not math.isfinite(value):
        problem = "is a number out of range"
    if problem is not None:
        where = field_name(path)
        raise _refusal(where, f"{where} {problem}.")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(max_depth: int) -> ImageSkillError:
    return _refusal("body", f"The JSON body is nested more than {max_depth} levels deep.")


def _refusal(field: str, message: str) -> ImageSkillError:
    return ImageSkillError(ErrorCode.INVALID_ARGUMENTS, message, details={"field": field})
