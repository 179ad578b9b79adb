"""Media delivery from the local store (assets/delivery.py, assets/media.py).

Bytes go out in bounded slices and arrive identical; a signed download of an
asset already seen reads no database, while every other request is checked as
strictly as before (signatures every time, tokens every time, revoked ones
refused); a file that is gone or short before the answer is a retryable
failure naming no path, and one cut short mid-answer ends that response
(tests/service/test_media_truncation.py drives that through a real server).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import event
from starlette.types import Message, Receive, Scope, Send

from image_skill.server import create_server_app
from image_skill.service.assets.delivery import (
    SLICE_BYTES,
    YIELD_EVERY_BYTES,
    FileSliceResponse,
    MediaInterrupted,
)
from image_skill.service.assets.media import FactsCache, MediaFacts
from tests.support.agents import Agent, sign_up
from tests.support.apps import TestClient, service_settings
from tests.support.envelopes import check_error, ok
from tests.support.images import png

NOISE_SIDE = 700  # ~1.5 MB of incompressible PNG: several slices


def noise_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


class BodyRecorder:
    """An ASGI wrapper that notes the size of every response body message."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Message) -> None:
            if message["type"] == "http.response.body":
                self.bodies.append(len(message.get("body", b"")))
            await send(message)

        await self.app(scope, receive, noting)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "service-home"


@pytest.fixture
def recorder(database_url: str, home: Path) -> BodyRecorder:
    return BodyRecorder(create_server_app(service_settings(database_url, home)))


@pytest.fixture
def client(recorder: BodyRecorder) -> Iterator[TestClient]:
    with TestClient(recorder) as started:
        yield started


@pytest.fixture
def owner(client: TestClient) -> Agent:
    return sign_up(client, "owner@example.com", "owner-bot")


def bare(url: str) -> str:
    return url.split("?", 1)[0]


def stored_file(home: Path, asset: dict[str, Any]) -> Path:
    sha = asset["sha256"]
    return home / "assets" / "objects" / sha[:2] / f"{sha}.png"


def statements(app: FastAPI) -> list[str]:
    """A list that fills with every SQL statement the app's engine runs from now on."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", note)
    return seen


def test_bytes_go_out_in_bounded_slices_and_arrive_identical(
    client: TestClient, recorder: BodyRecorder, owner: Agent
) -> None:
    asset = ok(owner.upload(noise_png(NOISE_SIDE)))["asset"]
    assert asset["content_length"] > 4 * SLICE_BYTES
    recorder.bodies.clear()
    with client.stream("GET", asset["url"]) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(asset["content_length"])
        assert response.headers["content-type"] == "image/png"
        assert response.headers["etag"] == f'"{asset["sha256"]}"'
        body = b"".join(response.iter_bytes())
    assert hashlib.sha256(body).hexdigest() == asset["sha256"]
    assert sum(recorder.bodies) == len(body)
    assert max(recorder.bodies) <= SLICE_BYTES
    assert len(recorder.bodies) >= asset["content_length"] // SLICE_BYTES


def test_hostile_range_headers_get_the_whole_file_as_before(
    client: TestClient, owner: Agent
) -> None:
    asset = ok(owner.upload(noise_png(300)))["asset"]
    hostile = [
        "bytes=0-10",
        "bytes=999999999999-",
        "bytes=-1",
        "bytes=5-2",
        ",".join(["bytes=0-0"] * 500),
        "bytes=" + ",".join(f"{i}-{i}" for i in range(2000)),
        "pages=1-2",
    ]
    for value in hostile:
        response = client.get(asset["url"], headers={"Range": value})
        assert response.status_code == 200, value
        assert "content-range" not in response.headers
        assert hashlib.sha256(response.content).hexdigest() == asset["sha256"]
    # A NUL in a header is refused by the input guard before any route, as everywhere.
    check_error(client.get(asset["url"], headers={"Range": "bytes=\x00-1"}), "INVALID_ARGUMENTS", 2)


def test_a_signed_download_of_a_known_asset_reads_no_database(
    client: TestClient, recorder: BodyRecorder, owner: Agent
) -> None:
    asset = ok(owner.upload(png(20, 20)))["asset"]
    seen = statements(recorder.app)
    # The upload's answer does not warm the cache: the first download looks the row up.
    assert client.get(asset["url"]).status_code == 200
    assert seen, "the first signed download must read the asset row"
    seen.clear()
    for _ in range(3):
        assert client.get(asset["url"]).status_code == 200
        assert client.head(asset["url"]).status_code == 200
    assert seen == []
    # A bearer download is authenticated against the database every time.
    assert client.get(bare(asset["url"]), headers=owner.headers).status_code == 200
    assert seen, "a token must be checked on every request"


def test_a_cached_asset_is_guarded_as_strictly_as_an_uncached_one(
    client: TestClient, owner: Agent
) -> None:
    stranger = sign_up(client, "stranger@example.com", "stranger-bot")
    asset = ok(owner.upload(png(21, 13)))["asset"]
    url = asset["url"]
    assert client.get(url).status_code == 200  # now cached
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    forged = [
        bare(url),
        f"{bare(url)}?sig=",
        f"{bare(url)}?sig={sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",
        f"{bare(url)}?sig={sig}x",
        bare(url).replace(".png", ".jpg") + f"?sig={sig}",
    ]
    for candidate in forged:
        check_error(client.get(candidate), "NOT_FOUND", 1)
        check_error(client.get(candidate, headers=stranger.headers), "NOT_FOUND", 1)
    # The owner's token opens the bare URL; a rotated (revoked) one no longer does.
    assert client.get(bare(url), headers=owner.headers).status_code == 200
    rotated = client.post(
        "/v1/agent-signups",
        json={"human_email": "owner@example.com", "agent_name": "owner-bot"},
        headers=owner.headers,
    )
    assert rotated.status_code == 200, rotated.text
    check_error(client.get(bare(url), headers=owner.headers), "NOT_FOUND", 1)
    fresh = {"Authorization": f"Bearer {rotated.json()['data']['token']}"}
    assert client.get(bare(url), headers=fresh).status_code == 200
    # The signed URL itself keeps working for anyone holding it.
    assert client.get(url, headers=stranger.headers).status_code == 200


@pytest.mark.parametrize("damage", ["truncated", "deleted", "grown"])
def test_a_damaged_file_is_a_retryable_failure_naming_no_path(
    client: TestClient, owner: Agent, home: Path, damage: str
) -> None:
    asset = ok(owner.upload(noise_png(200)))["asset"]
    assert client.get(asset["url"]).status_code == 200  # cached facts, same outcome
    path = stored_file(home, asset)
    alias = home / "assets" / "a" / f"{asset['asset_id']}.png"
    if damage == "truncated":
        os.truncate(path, asset["content_length"] // 2)
    elif damage == "grown":
        with path.open("ab") as handle:
            handle.write(b"more")
    else:
        path.unlink()
        alias.unlink(missing_ok=True)
    response = client.get(asset["url"])
    error = check_error(response, "ASSET_DOWNLOAD_FAILED", 7)
    assert response.status_code == 502
    assert error["retryable"] is True
    for secret in (str(home), "objects/", asset["sha256"][:16]):
        assert secret not in response.text
    # Metadata answers need no bytes and are unchanged.
    assert client.head(asset["url"]).status_code == 200


def test_the_facts_cache_is_bounded() -> None:
    cache = FactsCache(capacity=3)
    facts = [
        MediaFacts(f"image_{n}", "org", "png", "image/png", n, "0" * 64, f"objects/{n}")
        for n in range(5)
    ]
    for one in facts[:3]:
        cache.put(one)
    assert cache.get("image_0") is facts[0]  # now the most recently used
    cache.put(facts[3])
    cache.put(facts[4])
    assert len(cache) == 3
    assert cache.get("image_1") is None and cache.get("image_2") is None
    assert [cache.get(f"image_{n}") for n in (0, 3, 4)] == [facts[0], facts[3], facts[4]]


def written(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "object.bin"
    path.write_bytes(data)
    return path, data


async def _served(
    response: FileSliceResponse, receive: Receive, on_body: Any = None
) -> list[Message]:
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)
        if on_body is not None and message["type"] == "http.response.body":
            on_body(len(messages))

    await response({"type": "http", "method": "GET"}, receive, send)
    return messages


async def _never_disconnects() -> Message:
    await asyncio.sleep(3600)
    return {"type": "http.disconnect"}


def test_a_file_truncated_mid_answer_ends_it_and_closes_the_file(tmp_path: Path) -> None:
    path, _data = written(tmp_path, 6 * SLICE_BYTES)
    response = FileSliceResponse(
        io.FileIO(path, "r"), 6 * SLICE_BYTES, headers={}, media_type="image/png"
    )

    def cut(count: int) -> None:
        if count == 2:  # after the first slice
            os.truncate(path, SLICE_BYTES + 10)

    with pytest.raises(MediaInterrupted) as raised:
        asyncio.run(_served(response, _never_disconnects, cut))
    assert str(tmp_path) not in str(raised.value)
    assert response.file.closed


def test_slices_cover_the_length_exactly_and_the_last_ends_the_body(tmp_path: Path) -> None:
    size = 3 * SLICE_BYTES + 17
    path, data = written(tmp_path, size + 100)  # only ``size`` bytes are the answer
    response = FileSliceResponse(io.FileIO(path, "r"), size, headers={}, media_type="image/png")
    messages = asyncio.run(_served(response, _never_disconnects))
    assert messages[0]["type"] == "http.response.start" and messages[0]["status"] == 200
    bodies = messages[1:]
    assert b"".join(m["body"] for m in bodies) == data[:size]
    assert [m["more_body"] for m in bodies] == [True, True, True, False]
    assert response.file.closed


def test_an_empty_file_still_ends_its_body(tmp_path: Path) -> None:
    path, _data = written(tmp_path, 0)
    response = FileSliceResponse(io.FileIO(path, "r"), 0, headers={}, media_type="image/png")
    messages = asyncio.run(_served(response, _never_disconnects))
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[1]["body"] == b"" and messages[1]["more_body"] is False


def test_a_client_that_left_stops_the_reads(tmp_path: Path) -> None:
    size = 4 * YIELD_EVERY_BYTES
    path, _data = written(tmp_path, size)
    response = FileSliceResponse(io.FileIO(path, "r"), size, headers={}, media_type="image/png")

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    messages = asyncio.run(_served(response, gone))
    sent = sum(len(m.get("body", b"")) for m in messages[1:])
    assert sent == YIELD_EVERY_BYTES
    assert response.file.closed
