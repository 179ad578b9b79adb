"""A file outbox: each message becomes one ``.eml`` file under ``<home>/outbox``.

For development and the embedded mode, where there is no mail server: the
person at the machine reads the message (or ``image-skill claim link`` does).
Files appear atomically (written under a temporary name, then renamed) and are
readable by their owner only, since a claim link in them is a credential.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path

import anyio

from image_skill.service.mail.base import MailDeliveryFailed, MailMessage

OUTBOX_DIR = "outbox"


class OutboxMailBackend:
    """Writes messages to a directory instead of sending them."""

    name = "outbox"

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, message: MailMessage) -> None:
        """Write the message as ``<time>-<random>.eml`` (0600, atomic)."""
        data = message.to_email(self.sender).as_bytes()
        try:
            await anyio.to_thread.run_sync(self._write, data)
        except OSError as exc:
            raise MailDeliveryFailed("The outbox could not be written.") from exc

    def _write(self, data: bytes) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{secrets.token_hex(4)}.eml"
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=".mail-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            target = self.directory / name
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target
