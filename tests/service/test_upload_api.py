"""Uploads through the API on both databases: hostile bytes are refused and nothing is kept."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from image_skill.service.storage.memory import MemoryAssetStore
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app, stored_files
from tests.support.databases import row_counts
from tests.support.envelopes import check_error, ok
from tests.support.images import png, upload_body


@pytest.fixture
def agent(api: TestClient) -> Agent:
    return sign_up(api)


def home_of(client: TestClient) -> Path:
    home: Path = client.app.state.settings.home  # type: ignore[attr-defined]
    return home


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG whose header declares ``width`` x ``height`` but holds a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (128, 128), os.urandom(128 * 128 * 3)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 1.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buffer, format="JPEG", exif=exif)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the fixture really carries a location
        assert check.getexif().get_ifd(0x8825)
    return data


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"

HOSTILE: list[tuple[str, dict[str, Any], str, int]] = [
    # Not an image, or a broken one: an input error (issue 13), not a policy refusal.
    ("svg-as-png", upload_body(SVG, filename="cat.png"), "UPLOAD_MIME_TYPE_UNKNOWN", 2),
    ("html", upload_body(HTML, filename="x.png"), "UPLOAD_MIME_TYPE_UNKNOWN", 2),
    ("truncated-png", upload_body(truncated_png()), "INVALID_ARGUMENTS", 2),
    ("bomb-sides", upload_body(png_header_only(100_000, 100_000)), "INPUT_POLICY_DENIED", 6),
    ("bomb-pixels", upload_body(png_header_only(10_000, 10_000)), "INPUT_POLICY_DENIED", 6),
    (
        "wrong-sha256",
        upload_body(png(), sha256=hashlib.sha256(b"other").hexdigest()),
        "INVALID_ARGUMENTS",
        2,
    ),
    ("wrong-length", upload_body(png(), content_length=len(png()) + 1), "INVALID_ARGUMENTS", 2),
    ("not-base64", upload_body(png(), bytes_base64="not*base64!"), "INVALID_ARGUMENTS", 2),
]
FIELD_OF = {
    "wrong-sha256": "sha256",
    "wrong-length": "content_length",
    "not-base64": "bytes_base64",
}


def test_hostile_uploads_are_refused_and_nothing_is_stored(
    api: TestClient, agent: Agent, db: Engine
) -> None:
    home = home_of(api)
    ok(agent.upload(png()))  # the store exists and holds one object
    rows, files = row_counts(db), stored_files(home)
    assert files

    for case, body, code, exit_code in HOSTILE:
        hostile = {**body, "filename": "/home/alice/secret/" + (body["filename"] or "x.png")}
        response = agent.post("/v1/upload", hostile)
        assert (response.json()["error"] or {}).get("code") == code, (case, response.text)
        error = check_error(response, code, exit_code)
        if case in FIELD_OF:
            assert error["details"]["field"] == FIELD_OF[case]
        else:
            assert error["details"]["rule"].startswith("upload."), case
        assert "alice" not in response.text and "secret" not in response.text
        assert row_counts(db) == rows, case
        assert stored_files(home) == files, case


def test_oversize_upload_is_refused(database_url: str, tmp_path: Path, db: Engine) -> None:
    home = tmp_path / "home"
    with started_app(database_url, home, max_upload_bytes=2000) as client:
        agent = sign_up(client)
        small = png(8, 8)
        ok(agent.upload(small))
        rows, files = row_counts(db), stored_files(home)
        big = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
        buffer = io.BytesIO()
        big.save(buffer, format="PNG")
        assert len(buffer.getvalue()) > 2000
        for data in (buffer.getvalue(), buffer.getvalue()[:2003]):  # both size checks
            error = check_error(agent.upload(data), "INPUT_POLICY_DENIED", 6)
            assert error["details"]["rule"] == "upload.too_large"
        assert row_counts(db) == rows
        assert stored_files(home) == files


def test_exif_gps_is_stripped_before_storage(api: TestClient, agent: Agent) -> None:
    original = gps_jpeg()
    data = ok(agent.upload(original, mime_type="image/jpeg", filename="holiday.jpg"))
    assert data["upload"]["policy"]["metadata_stripped"] is True
    assert data["upload"]["sha256"] == hashlib.sha256(original).hexdigest()
    asset = data["asset"]
    assert asset["mime_type"] == "image/jpeg"
    assert (asset["width"], asset["height"]) == (64, 48)
    stored = api.get(asset["url"]).content
    assert hashlib.sha256(stored).hexdigest() == asset["sha256"] == data["upload"]["stored_sha256"]
    assert stored != original
    assert b"Exif" not in stored and b"SpyCam" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert dict(image.getexif()) == {}
        assert image.size == (64, 48)


def test_clean_png_is_stored_byte_for_byte(api: TestClient, agent: Agent) -> None:
    original = png(20, 10)
    data = ok(agent.upload(original))
    assert data["upload"]["policy"]["metadata_stripped"] is False
    assert api.get(data["asset"]["url"]).content == original
    assert data["asset"]["sha256"] == hashlib.sha256(original).hexdigest()


@pytest.mark.parametrize(
    "filename", ["/home/alice/secret/photo.png", "C:\\Users\\alice\\secret\\photo.png"]
)
def test_response_never_carries_directories_or_full_remote_urls(
    agent: Agent, filename: str
) -> None:
    body = upload_body(
        png(),
        source_kind="remote_url",
        filename=filename,
        remote_origin="https://example.com/path?token=abc",
    )
    response = agent.post("/v1/upload", body)
    data = ok(response)
    assert data["request"] == {
        "source_kind": "remote_url",
        "filename": "photo.png",
        "remote_origin": "https://example.com",
    }
    for leaked in ("alice", "secret", "/path", "token=abc", "Users"):
        assert leaked not in response.text
    shown = agent.get(f"/v1/assets/{data['asset']['asset_id']}")
    for leaked in ("alice", "secret", "photo", "token=abc"):
        assert leaked not in shown.text
    assert base64.b64encode(png()).decode()[:40] not in response.text


def test_store_outage_keeps_nothing(database_url: str, tmp_path: Path, db: Engine) -> None:
    with started_app(
        database_url, tmp_path / "home", store=MemoryAssetStore(fail_writes=True)
    ) as client:
        agent = sign_up(client)
        rows = row_counts(db)
        response = agent.upload(png())
        error = check_error(response, "ARTIFACT_STORAGE_WRITE_FAILED", 9)
        assert error["retryable"] is False
        assert row_counts(db) == rows


def test_remote_origin_is_cut_to_scheme_host_and_port(agent: Agent) -> None:
    cases = {
        "https://user:pw@example.com:8443/p?token=abc": "https://example.com:8443",
        "https://[::1]:8080/x?token=abc": "https://[::1]:8080",
        "https://example.com:99999/p?token=abc": None,
        "https://example.com:port/p?token=abc": None,
        "ftp://example.com/p?token=abc": None,
        "javascript:alert(1)": None,
    }
    for origin, expected in cases.items():
        body = upload_body(png(), source_kind="remote_url", remote_origin=origin)
        response = agent.post("/v1/upload", body)
        assert response.status_code == 201, (origin, response.text)
        assert ok(response)["request"]["remote_origin"] == expected, origin
        for leaked in ("token=abc", "pw@", "alert"):
            assert leaked not in response.text, origin
