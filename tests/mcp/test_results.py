"""Tool result shaping: the size cap holds for any data, and errors keep code and recovery."""

from __future__ import annotations

from typing import Any

from mcp_types import ImageContent

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.mcp.results import (
    MAX_RESULT_CHARS,
    data_result,
    error_result,
    result_size,
    tool_result,
)
from image_skill.mcp.thumbnails import MAX_BYTES, MAX_EDGE, encode
from image_skill.result import Result
from tests.support.images import open_image, png_bytes


def asset(index: int) -> dict[str, Any]:
    return {
        "asset_id": f"image_{index:04d}",
        "url": f"https://media.example/a/image_{index:04d}.png",
        "mime_type": "image/png",
        "content_length": 1234,
        "width": 64,
        "height": 64,
    }


def test_a_long_list_is_cut_to_fit_and_the_cut_is_said() -> None:
    events = [{"event_id": f"evt_{i}", "summary": "x" * 200} for i in range(2000)]
    result = data_result({"events": events, "next_cursor": "c1"})
    assert result_size(result) <= MAX_RESULT_CHARS
    data = result.structured_content
    assert data is not None
    kept = data["mcp_truncated"]["events"]
    assert kept["of"] == 2000 and 0 < kept["kept"] == len(data["events"]) < 2000
    assert data["next_cursor"] == "c1"


def test_data_with_no_list_to_cut_becomes_a_notice_under_the_cap() -> None:
    result = data_result({"blob": "y" * (MAX_RESULT_CHARS * 2)})
    assert result_size(result) <= MAX_RESULT_CHARS
    assert result.structured_content is not None
    assert result.structured_content["mcp_truncated"] is True


def test_images_are_links_and_thumbnails_are_dropped_before_the_data_is() -> None:
    data = {"job_id": "job_1", "assets": [asset(1), asset(2)]}
    huge = ImageContent(type="image", data="A" * MAX_RESULT_CHARS, mime_type="image/jpeg")
    result = data_result(data, thumbnails=[huge])
    assert result_size(result) <= MAX_RESULT_CHARS
    kinds = [block.type for block in result.content]
    assert kinds == ["text", "resource_link", "resource_link"]
    assert result.structured_content == data


def test_relative_asset_urls_are_made_absolute_against_the_service() -> None:
    data = {"asset": {**asset(3), "url": "/a/image_0003.png"}}
    result = data_result(data, base_url="https://api.example")
    links = [str(b.uri) for b in result.content if b.type == "resource_link"]
    assert links == ["https://api.example/a/image_0003.png"]


def test_errors_carry_code_message_and_recovery() -> None:
    error = ImageSkillError(
        ErrorCode.MODEL_NOT_FOUND,
        "No model 'x'.",
        recovery={"suggested_command": "image-skill models list --json"},
    )
    shaped = error_result(error)
    assert shaped.is_error
    assert shaped.structured_content == {"error": error.to_error()}
    envelope = {"ok": False, "error": error.to_error(), "data": None}
    from_envelope = tool_result(Result(envelope, 2, 404))
    assert from_envelope.structured_content == shaped.structured_content
    assert "MODEL_NOT_FOUND" in from_envelope.content[0].text  # type: ignore[union-attr]


def test_thumbnails_are_bounded_in_edge_and_bytes() -> None:
    import base64

    raw = base64.b64decode(encode(png_bytes(3000, 1200)))
    assert len(raw) <= MAX_BYTES
    assert max(open_image(raw).size) <= MAX_EDGE
