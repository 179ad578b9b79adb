"""The S3 asset store against a real SeaweedFS: the store contract, the start-up check,
presigned reads, and failures that never name the bucket, key or credentials."""

from __future__ import annotations

import hashlib
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from image_skill.service.settings import Settings
from image_skill.service.storage.base import StoreError, content_key
from image_skill.service.storage.factory import build_store
from image_skill.service.storage.s3 import S3AssetStore, S3Location, _check_message
from tests.support.images import png
from tests.support.seaweed import ACCESS_KEY, REGION, SECRET_KEY, Seaweed, switchable_proxy


def store_for(seaweed: Seaweed, bucket: str, /, **changes: Any) -> S3AssetStore:
    fields: dict[str, Any] = {
        "bucket": bucket,
        "endpoint_url": seaweed.endpoint_url,
        "region": REGION,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        "timeout_seconds": 5,
    }
    fields.update(changes)
    return S3AssetStore(S3Location(**fields))


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def assert_safe(error: BaseException, *secrets: str) -> None:
    """The message and the whole chain name nothing an attacker or a log should see."""
    assert error.__cause__ is None and error.__suppress_context__
    for secret in (ACCESS_KEY, SECRET_KEY, *secrets):
        assert secret not in str(error), secret


def test_put_get_open_are_content_addressed_and_idempotent(seaweed: Seaweed) -> None:
    bucket = seaweed.bucket()
    store = store_for(seaweed, bucket)
    data = png(40, 30)
    digest = hashlib.sha256(data).hexdigest()

    async def scenario() -> None:
        key = await store.put(data, sha256=digest, extension="png", alias="image_x")
        assert key == content_key(digest, "png")
        # The same bytes again: no error, same key, same object.
        assert await store.put(data, sha256=digest, extension="png") == key
        assert await store.get(key) == data
        assert await collect(await store.open(key)) == data
        assert store.alias_path("image_x", "png") is None
        await store.check()
        await store.aclose()
        assert await store.get(key) == data  # a new client is made on demand

    anyio.run(scenario)


def test_large_objects_stream_in_chunks(seaweed: Seaweed) -> None:
    store = store_for(seaweed, seaweed.bucket())
    data = bytes(range(256)) * (3 * 1024 * 4)  # 3 MiB
    digest = hashlib.sha256(data).hexdigest()

    async def scenario() -> list[int]:
        key = await store.put(data, sha256=digest, extension="png")
        sizes = []
        received = bytearray()
        async for chunk in await store.open(key):
            sizes.append(len(chunk))
            received += chunk
        assert bytes(received) == data
        return sizes

    assert len(anyio.run(scenario)) > 1


def test_missing_objects_are_store_errors_before_any_byte(seaweed: Seaweed) -> None:
    bucket = seaweed.bucket()
    store = store_for(seaweed, bucket)
    key = content_key("ab" * 32, "png")

    async def scenario() -> None:
        with pytest.raises(StoreError) as read:
            await store.get(key)
        assert str(read.value) == "asset missing"
        assert_safe(read.value, bucket, key)
        with pytest.raises(StoreError) as opened:
            await store.open(key)
        assert_safe(opened.value, bucket, key)

    anyio.run(scenario)


def test_presigned_url_reads_without_credentials_and_is_bounded(seaweed: Seaweed) -> None:
    store = store_for(seaweed, seaweed.bucket())
    data = png(12, 12)
    digest = hashlib.sha256(data).hexdigest()

    async def scenario() -> str:
        key = await store.put(data, sha256=digest, extension="png")
        url = await store.presigned_url(key, 60)
        assert url is not None
        return url

    url = anyio.run(scenario)
    assert "X-Amz-Expires=60" in url and SECRET_KEY not in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
        assert response.headers["content-type"] == "image/png"
        assert "immutable" in response.headers["cache-control"]
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403


@pytest.mark.parametrize("problem", ["no bucket", "bad secret", "unreachable"])
def test_startup_check_names_the_setting_never_the_value(seaweed: Seaweed, problem: str) -> None:
    bucket = seaweed.bucket()
    # A port bound here but never listening: refused, and no other server (another
    # xdist worker's SeaweedFS picks free ports too) can take it meanwhile.
    with socket.socket() as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        changes: dict[str, Any] = {
            "no bucket": {"bucket": "missing-" + bucket},
            "bad secret": {"secret_access_key": "not-the-secret-" + "x" * 20},
            "unreachable": {"endpoint_url": f"http://127.0.0.1:{closed_port.getsockname()[1]}"},
        }[problem]
        store = store_for(seaweed, bucket, **changes)

        async def scenario() -> StoreError:
            with pytest.raises(StoreError) as failed:
                await store.check()
            return failed.value

        error = anyio.run(scenario)
    expected = {
        "no bucket": "IMAGE_SKILL_S3_BUCKET does not exist",
        "bad secret": "refused the credentials",
        "unreachable": "could not be reached",
    }[problem]
    assert expected in str(error)
    assert_safe(error, bucket, "not-the-secret", "127.0.0.1")


@pytest.mark.parametrize("port", [40300, 40312, 54030, 4030])
def test_an_unreachable_endpoint_whose_port_holds_403_is_not_called_a_refusal(port: int) -> None:
    """obstore's message carries the URL, so a port like 40312 once read as an HTTP 403."""
    message = (
        f"Generic S3 error: Error performing GET http://127.0.0.1:{port}/b?list-type=2 "
        "in 234ms, after 2 retries - HTTP error: error sending request"
    )
    assert "could not be reached" in _check_message(OSError(message))


def test_writes_fail_fast_while_s3_is_down_and_work_once_it_is_back(seaweed: Seaweed) -> None:
    bucket = seaweed.bucket()
    data = png(8, 8)
    digest = hashlib.sha256(data).hexdigest()
    with switchable_proxy(seaweed.endpoint_url) as proxy:
        store = store_for(seaweed, bucket, endpoint_url=proxy.url)

        async def scenario() -> None:
            proxy.down()
            with anyio.fail_after(15):  # bounded by timeouts and a short retry budget
                with pytest.raises(StoreError) as failed:
                    await store.put(data, sha256=digest, extension="png")
            assert str(failed.value) == "asset write failed"
            assert_safe(failed.value, bucket)
            proxy.restore()
            key = await store.put(data, sha256=digest, extension="png")
            assert await store.get(key) == data

        anyio.run(scenario)


def test_the_factory_builds_the_configured_store(seaweed: Seaweed) -> None:
    bucket = seaweed.bucket()
    settings = Settings(
        environment="test",
        embedded=False,
        **seaweed.settings(bucket),
    )
    store = build_store(settings)
    assert isinstance(store, S3AssetStore)
    assert SECRET_KEY not in repr(store.location)
    anyio.run(store.check)
    assert build_store(Settings(environment="test", asset_store="memory")).backend == "memory"
    assert build_store(Settings(environment="test")).backend == "local_filesystem"


@pytest.mark.parametrize(
    ("endpoint", "style", "expected"),
    [
        ("https://s3.example.test:9000", "virtual", "https://bkt.s3.example.test:9000/objects/"),
        ("https://s3.example.test:9000", "path", "https://s3.example.test:9000/bkt/objects/"),
        (None, "virtual", "https://bkt.s3.eu-west-1.amazonaws.com/objects/"),
        (None, "path", "https://s3.eu-west-1.amazonaws.com/bkt/objects/"),
    ],
)
def test_addressing_styles_put_the_bucket_where_the_server_expects_it(
    endpoint: str | None, style: str, expected: str
) -> None:
    location = S3Location(
        bucket="bkt",
        endpoint_url=endpoint,
        region="eu-west-1",
        access_key_id="akid",
        secret_access_key="not-shown",
        addressing_style=style,  # type: ignore[arg-type]
    )
    store = S3AssetStore(location)

    async def sign() -> str | None:
        try:
            return await store.presigned_url(content_key("cd" * 32, "png"), 30)
        finally:
            await store.aclose()

    url = anyio.run(sign)
    assert url is not None and url.startswith(expected + "cd/"), url
    assert "not-shown" not in url and "X-Amz-Credential=akid" in url
