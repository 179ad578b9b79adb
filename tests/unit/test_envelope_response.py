"""``EnvelopeResponse`` (orjson) renders what the standard library's ``JSONResponse`` did.

A client parses the body, so the guarantee is the parsed value (keys in the same
order, text, numbers), and byte equality wherever the two encoders agree on
spelling; floats may be spelled differently (``1e-7`` for ``1e-07``) but parse to
the same number.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from image_skill.service.responses import EnvelopeResponse

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _pairs(raw: bytes) -> Any:
    """The parsed body with every object as a list of pairs, so key order is compared too."""
    return json.loads(raw, object_pairs_hook=list)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_parses_to_what_the_standard_library_wrote(value: Any) -> None:
    ours = EnvelopeResponse(value).body
    theirs = JSONResponse(value).body
    assert _pairs(ours) == _pairs(theirs)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=30,
    )
)
def test_same_bytes_without_floats(value: Any) -> None:
    assert EnvelopeResponse(value).body == JSONResponse(value).body


def test_text_is_utf8_not_escaped() -> None:
    body = EnvelopeResponse({"prompt": 'café ☃ \u2028 \x00 "q" \\'}).body
    assert body == JSONResponse({"prompt": 'café ☃ \u2028 \x00 "q" \\'}).body
    assert "café ☃".encode() in body


def test_integer_keys_become_strings_and_big_integers_fall_back() -> None:
    value = {1: "one", "big": 2**80, "neg": -(2**70)}
    assert EnvelopeResponse(value).body == JSONResponse(value).body
    assert json.loads(EnvelopeResponse(value).body)["big"] == 2**80


def test_nan_and_infinity_are_never_written() -> None:
    body = EnvelopeResponse({"a": math.nan, "b": math.inf, "c": [-math.inf]}).body
    assert body == b'{"a":null,"b":null,"c":[null]}'


def test_headers_and_media_type_are_json_responses() -> None:
    response = EnvelopeResponse({"ok": True}, status_code=201, headers={"x-a": "1"})
    assert isinstance(response, JSONResponse)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-a"] == "1"
    assert response.headers["content-length"] == str(len(response.body))
