"""Reading the ``POST /v1/upload`` body without FastAPI's extra copies of it.

A base64 upload is a third larger than its image, and a FastAPI body parameter
keeps the raw bytes (``Request._body``) and the parsed JSON (``Request._json``)
for the whole request, next to the decoded bytes and the pixels: 6x the image in
peak memory. So the upload route reads its own body: the chunks (already capped
by the body-limit middleware) into one buffer, decoded to text and the buffer
dropped, the text parsed and dropped; ``upload._take_bytes`` then decodes the
base64 string in slices and drops it. At most two copies of the payload are
alive at a time. (Not orjson here: for a 33 MB string it holds a parse buffer
and the string at once, next to the body.)

What the body parameter answered stays the same: the content-type rule (JSON
only, else the body is validated as bytes and refused), ``json_guard``'s parse
and checks (the same text ``json.loads`` would decode from bytes), malformed
JSON as FastAPI's ``json_invalid``, and pydantic's errors located under
``body``. ``UPLOAD_BODY_SPEC`` keeps the request model in the OpenAPI document.
"""

from __future__ import annotations

import email.message
import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from image_skill.service.creative.schemas import UploadRequest
from image_skill.service.json_guard import parse_json_body

_DEFAULT_MAX_DEPTH = 32

UPLOAD_BODY_SPEC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": UploadRequest.model_json_schema()}},
    }
}


async def read_upload(request: Request) -> UploadRequest:
    """The validated upload request, parsed from a body read once into one buffer."""
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
    except ClientDisconnect:  # what FastAPI answers when a body cannot be read
        raise HTTPException(400, "There was an error parsing the body") from None
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    value: Any
    if _is_json(request):
        text = _text(raw, _max_depth(request))
        del raw
        value = _parse(text, _max_depth(request))
        del text
    else:
        value = bytes(raw)
        del raw
    try:
        return UploadRequest.model_validate(value)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def _text(raw: bytearray, max_depth: int) -> str:
    """The body as text, decoded as ``json.loads`` decodes bytes (UTF-8, -16 or -32)."""
    try:
        return raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        parse_json_body(bytes(raw), max_depth=max_depth)  # raises json_guard's refusal
        raise  # unreachable: the same decode failed there


def _parse(text: str, max_depth: int) -> Any:
    """The JSON value, held to ``json_guard``'s checks; malformed JSON as FastAPI says it."""
    try:
        return parse_json_body(text, max_depth=max_depth)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error]) from None


def _is_json(request: Request) -> bool:
    """Whether FastAPI would parse this body as JSON (``application/json`` or ``+json``)."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _max_depth(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    return int(getattr(settings, "max_json_depth", _DEFAULT_MAX_DEPTH))
