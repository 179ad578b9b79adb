"""The mail backend contract and the message it sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol


class MailDeliveryFailed(Exception):
    """The message could not be handed over; the text never names hosts or addresses."""


@dataclass(frozen=True)
class MailMessage:
    """One plain-text message to one recipient."""

    to: str
    subject: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_email(self, sender: str) -> EmailMessage:
        """The RFC 5322 message, from ``sender``."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=_domain_of(sender))
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        return message


class MailBackend(Protocol):
    """Anything that can send a ``MailMessage`` (or raise ``MailDeliveryFailed``)."""

    name: str

    async def send(self, message: MailMessage) -> None:
        """Hand the message over for delivery."""
        ...


def _domain_of(sender: str) -> str:
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    domain = address.rpartition("@")[2]
    return domain or "localhost"
