"""A real SMTP server on loopback (aiosmtpd) and the messages it received."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


@dataclass
class Inbox:
    """What the loopback SMTP server received (its handler), and where it listens."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def server_env(self) -> dict[str, str]:
        """Service env that sends mail here."""
        return {
            "IMAGE_SKILL_MAIL_BACKEND": "smtp",
            "IMAGE_SKILL_SMTP_HOST": "127.0.0.1",
            "IMAGE_SKILL_SMTP_PORT": str(self.port),
            "IMAGE_SKILL_SMTP_SECURITY": "none",
            "IMAGE_SKILL_SMTP_TIMEOUT_SECONDS": "5",
            "IMAGE_SKILL_MAIL_FROM": "Image Skill <console@image-skill.test>",
        }

    def wait_for_link(self, pattern: re.Pattern[str], *, after: int, timeout: float = 15) -> str:
        """The first link matching ``pattern`` in a message received after the first
        ``after`` messages, waiting for it to arrive (mail may be sent after the answer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _rcpt, raw in self.messages[after:]:
                message = message_from_bytes(raw, policy=policy.default)
                body = message.get_body(("plain",))
                found = pattern.search(str(body.get_content()) if body else "")
                if found:
                    return found.group(0)
            time.sleep(0.05)
        raise AssertionError(f"no message with {pattern.pattern} arrived")


@contextmanager
def smtp_inbox() -> Iterator[Inbox]:
    """An SMTP server on a free loopback port for the duration of the block."""
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
