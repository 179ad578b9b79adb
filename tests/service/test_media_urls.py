"""Signed media URLs on both databases: the URL is its own permission, a bare or forged
one is NOT_FOUND to strangers (the same answer as a missing asset), the owner's token
still opens it, and the bytes stream with their cache headers."""

from __future__ import annotations

import hashlib
import io
import os
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr, ValidationError

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.errors import ImageSkillError
from image_skill.service.assets.signing import media_signature, signature_matches, signing_key
from image_skill.service.settings import Settings, server_settings
from tests.support.agents import Agent, sign_up
from tests.support.envelopes import ok
from tests.support.images import png

SIGNED = re.compile(r"http://testserver/a/(image_[^.?]+)\.(png)\?sig=([A-Za-z0-9_-]{22})")


def bare(url: str) -> str:
    """The media URL without its signature."""
    return url.split("?", 1)[0]


def with_sig(url: str, sig: str) -> str:
    return f"{bare(url)}?sig={sig}"


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.headers[EXIT_CODE_HEADER] == "1"
    assert response.json()["error"]["code"] == "NOT_FOUND"


@pytest.fixture
def owner(api: TestClient) -> Agent:
    return sign_up(api, "owner@example.com", "owner-bot")


@pytest.fixture
def stranger(api: TestClient) -> Agent:
    return sign_up(api, "stranger@example.com", "stranger-bot")


@pytest.fixture
def uploaded(owner: Agent) -> dict[str, Any]:
    asset: dict[str, Any] = ok(owner.upload(png(24, 16)))["asset"]
    return asset


def test_the_url_carries_a_deterministic_signature(
    api: TestClient, owner: Agent, uploaded: dict[str, Any]
) -> None:
    match = SIGNED.fullmatch(uploaded["url"])
    assert match, uploaded["url"]
    assert match.group(1) == uploaded["asset_id"]
    assert uploaded["path"] == uploaded["url"]
    # assets show and jobs show re-issue the same URL.
    shown = ok(owner.get(f"/v1/assets/{uploaded['asset_id']}"), 200)["asset"]
    assert shown["url"] == uploaded["url"]
    job = ok(owner.get(f"/v1/jobs/{uploaded['job_id']}"), 200)["job"]
    assert [a["url"] for a in job["assets"]] == [uploaded["url"]]
    # Without a token, the signed URL serves the bytes (0.1.0 clients download it as given).
    assert "Authorization" not in api.headers
    response = api.get(uploaded["url"])
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == uploaded["sha256"]
    assert response.headers["content-length"] == str(uploaded["content_length"])
    assert "immutable" in response.headers["cache-control"]
    assert api.head(uploaded["url"]).status_code == 200


def test_a_bare_or_forged_url_is_not_found_to_anyone_but_the_owner(
    api: TestClient, owner: Agent, stranger: Agent, uploaded: dict[str, Any]
) -> None:
    url = uploaded["url"]
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    forged = [
        bare(url),
        with_sig(url, ""),
        with_sig(url, sig[:-1] + ("A" if sig[-1] != "A" else "B")),
        with_sig(url, sig + "x"),
        with_sig(url, "%C3%A9" * 11),
        with_sig(url, sig.lower() if sig.lower() != sig else sig.upper()),
        bare(url).replace(".png", ".jpg") + f"?sig={sig}",
    ]
    for candidate in forged:
        assert_not_found(api.get(candidate))
        assert_not_found(api.get(candidate, headers=stranger.headers))
        assert api.head(candidate).status_code == 404, candidate
    # A stranger's token and a broken token change nothing.
    assert_not_found(api.get(bare(url), headers={"Authorization": "Bearer not-a-token"}))
    # The owning organization's token opens the bare URL (but not another extension).
    owned = api.get(bare(url), headers=owner.headers)
    assert owned.status_code == 200
    assert hashlib.sha256(owned.content).hexdigest() == uploaded["sha256"]
    assert api.head(bare(url), headers=owner.headers).status_code == 200
    assert_not_found(api.get(bare(url).replace(".png", ".jpg"), headers=owner.headers))
    # A missing asset looks exactly like an unsigned one.
    missing = api.get("/a/image_doesnotexist.png", headers=stranger.headers)
    assert_not_found(missing)
    assert missing.json()["error"]["message"] == api.get(bare(url)).json()["error"]["message"]


def test_a_signature_opens_only_the_asset_it_was_made_for(
    api: TestClient, owner: Agent, stranger: Agent, uploaded: dict[str, Any]
) -> None:
    theirs = ok(stranger.upload(png(9, 9)))["asset"]
    my_sig = parse_qs(urlsplit(uploaded["url"]).query)["sig"][0]
    their_sig = parse_qs(urlsplit(theirs["url"]).query)["sig"][0]
    assert my_sig != their_sig
    # My signature on their id, theirs on mine: neither opens.
    assert_not_found(api.get(with_sig(theirs["url"], my_sig)))
    assert_not_found(api.get(with_sig(theirs["url"], my_sig), headers=owner.headers))
    assert_not_found(api.get(with_sig(uploaded["url"], their_sig)))
    # Each organization's own URL opens for anyone holding it.
    assert api.get(theirs["url"]).status_code == 200
    assert api.get(uploaded["url"], headers=stranger.headers).status_code == 200
    # Their asset by bare URL with my token: not mine.
    assert_not_found(api.get(bare(theirs["url"]), headers=owner.headers))


def test_large_media_streams_whole_with_its_length(api: TestClient, owner: Agent) -> None:
    # Noise does not compress: the PNG is several chunks long.
    side = 500
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG", compress_level=1)
    asset = ok(owner.upload(buffer.getvalue()))["asset"]
    assert asset["content_length"] > 4 * 64 * 1024
    with api.stream("GET", asset["url"]) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(asset["content_length"])
        body = b"".join(response.iter_bytes())
    assert hashlib.sha256(body).hexdigest() == asset["sha256"]
    etag = response.headers["etag"]
    assert api.get(asset["url"], headers={"If-None-Match": etag}).status_code == 304


def test_the_key_is_the_setting_else_derived_from_the_pepper() -> None:
    pepper = Settings(environment="test", token_pepper="p" * 40)
    same = Settings(environment="test", token_pepper="p" * 40)
    other_pepper = Settings(environment="test", token_pepper="q" * 40)
    explicit = pepper.model_copy(update={"media_signing_key": SecretStr("k" * 40)})
    keys = [signing_key(s) for s in (pepper, same, other_pepper, explicit)]
    assert keys[0] == keys[1]  # every process of a deployment derives the same key
    assert len({keys[0], keys[2], keys[3]}) == 3  # rotating either changes every URL
    assert keys[0] != pepper.token_pepper.encode()
    sig = media_signature(keys[0], "image_x", "png")
    assert signature_matches(keys[0], "image_x", "png", sig)
    for wrong in (None, "", sig[:-1], "é" * 22):
        assert not signature_matches(keys[0], "image_x", "png", wrong)
    assert not signature_matches(keys[2], "image_x", "png", sig)
    assert not signature_matches(keys[0], "image_y", "png", sig)
    assert not signature_matches(keys[0], "image_x", "jpg", sig)


def test_settings_refuse_redirect_without_s3_and_s3_without_a_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="IMAGE_SKILL_MEDIA_DELIVERY=redirect needs"):
        Settings(environment="test", media_delivery="redirect")
    with pytest.raises(ValidationError, match="IMAGE_SKILL_S3_BUCKET"):
        Settings(environment="test", asset_store="s3")
    with pytest.raises(ValidationError, match="IMAGE_SKILL_MEDIA_SIGNING_KEY"):
        Settings(
            environment="production", token_pepper="p" * 40, media_signing_key=SecretStr("short")
        )
    monkeypatch.setenv("IMAGE_SKILL_MEDIA_DELIVERY", "redirect")
    monkeypatch.setenv("IMAGE_SKILL_S3_SECRET_ACCESS_KEY", "hidden-secret-value")
    with pytest.raises(ImageSkillError) as refused:
        server_settings()
    assert refused.value.code == "INVALID_ARGUMENTS"
    assert "IMAGE_SKILL_ASSET_STORE=s3" in refused.value.message
    assert "hidden-secret-value" not in refused.value.message
    monkeypatch.delenv("IMAGE_SKILL_MEDIA_DELIVERY")
    assert "hidden-secret-value" not in repr(Settings(environment="test"))
    assert "hidden-secret-value" not in str(Settings(environment="test").model_dump())
