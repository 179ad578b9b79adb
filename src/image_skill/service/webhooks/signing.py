"""Standard Webhooks signatures, and the organizations' signing secrets kept encrypted at rest.

Receivers verify our webhooks with any Standard Webhooks library: the
``webhook-signature`` header is ``v1,<base64 HMAC-SHA256>`` of
``"<webhook-id>.<webhook-timestamp>.<body>"`` keyed by the organization's
``whsec_...`` secret (signed here with the ``standardwebhooks`` package itself,
so the two cannot drift). The secret has to be usable for signing, so unlike a
token it cannot be stored as a hash: it is stored encrypted (Fernet) under a
server key, ``IMAGE_SKILL_WEBHOOK_ENCRYPTION_KEY``. Several comma-separated
keys allow rotating that key: the first encrypts, any decrypts. Outside
production an unset key is generated once and kept in the data directory with
mode 0600 (production refuses to start with webhooks on and no key).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks.webhooks import Webhook

from image_skill.service.settings import Settings

SECRET_PREFIX = "whsec_"
KEY_FILE_NAME = "webhook-encryption.key"
_KDF_INFO = b"image-skill webhook signing secrets v1"
_boxes: dict[tuple[str, ...], MultiFernet] = {}


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with any configured key (the server key changed)."""


def new_secret() -> str:
    """A fresh ``whsec_...`` signing secret (32 random bytes, base64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt of ``body``."""
    signature = Webhook(secret).sign(message_id, timestamp, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def encrypt_secret(settings: Settings, secret: str) -> str:
    """``secret`` encrypted under the server's first webhook key."""
    return _box(settings).encrypt(secret.encode()).decode()


def decrypt_secret(settings: Settings, ciphertext: str) -> str:
    """The plain secret, or SecretUnreadable if no configured key opens it."""
    try:
        return _box(settings).decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable from None


def _box(settings: Settings) -> MultiFernet:
    keys = _server_keys(settings)
    box = _boxes.get(keys)
    if box is None:
        box = _boxes[keys] = MultiFernet([Fernet(_fernet_key(key)) for key in keys])
    return box


def _fernet_key(key: str) -> bytes:
    """A Fernet key derived from an operator's key of any length (HKDF-SHA256)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(
        key.encode()
    )
    return base64.urlsafe_b64encode(derived)


def _server_keys(settings: Settings) -> tuple[str, ...]:
    configured = settings.webhook_encryption_key
    if configured is not None:
        # Settings refuse empty entries, so every part is a key.
        return tuple(part.strip() for part in configured.get_secret_value().split(","))
    return (_persisted_key(settings.home / KEY_FILE_NAME),)


def _persisted_key(path: Path) -> str:
    """The key kept at ``path``, made there once (0600, created whole or not at all)."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
            handle.flush()
            os.fsync(handle.fileno())
        # link() never replaces: a process that lost the race reads the winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"{KEY_FILE_NAME} in the data directory is empty")
    return key
