"""Signing secrets at rest: the server key rules, key rotation, and the dev key file."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from image_skill.service.settings import Settings
from image_skill.service.webhooks import signing

PEPPER = "p" * 40
KEY_A = "a" * 32
KEY_B = "b" * 32


def test_production_needs_a_long_key_when_webhooks_are_on() -> None:
    production = {"environment": "production", "token_pepper": PEPPER}
    assert Settings(**production).webhooks_on is False  # keyless production: off, not refused
    with pytest.raises(ValidationError, match="IMAGE_SKILL_WEBHOOK_ENCRYPTION_KEY"):
        Settings(**production, webhooks_enabled=True)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(**production, webhook_encryption_key="short")
    assert Settings(**production, webhook_encryption_key=KEY_A).webhooks_on is True
    assert Settings(**production, webhooks_enabled=False).webhooks_on is False
    with pytest.raises(ValidationError, match="empty entry"):
        Settings(webhook_encryption_key=f"{KEY_A},,")


def test_secrets_are_encrypted_and_survive_a_key_rotation(tmp_path: Path) -> None:
    secret = signing.new_secret()
    old = Settings(home=tmp_path, webhook_encryption_key=KEY_A)
    stored = signing.encrypt_secret(old, secret)
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    rotated = Settings(home=tmp_path, webhook_encryption_key=f"{KEY_B},{KEY_A}")
    assert signing.decrypt_secret(rotated, stored) == secret
    assert signing.decrypt_secret(rotated, signing.encrypt_secret(rotated, secret)) == secret
    with pytest.raises(signing.SecretUnreadable):
        signing.decrypt_secret(Settings(home=tmp_path, webhook_encryption_key=KEY_B), stored)


def test_without_a_key_one_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "data")
    stored = signing.encrypt_secret(settings, "whsec_" + "A" * 43)
    key_file = tmp_path / "data" / signing.KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text()
    again = Settings(home=tmp_path / "data")
    assert signing.decrypt_secret(again, stored) == "whsec_" + "A" * 43
    assert key_file.read_text() == first
    assert [p.name for p in key_file.parent.iterdir()] == [signing.KEY_FILE_NAME]


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    secret = signing.new_secret()
    body = b'{"type":"job.completed"}'
    headers = signing.sign(secret, "msg_1", datetime.now(UTC), body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"type": "job.completed"}
