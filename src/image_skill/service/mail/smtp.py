"""Sending through an SMTP server with aiosmtplib (TLS, STARTTLS or plain, optional login)."""

from __future__ import annotations

import aiosmtplib

from image_skill.service.mail.base import MailDeliveryFailed, MailMessage
from image_skill.service.settings import Settings


class SmtpMailBackend:
    """One SMTP connection per message: claim mail is rare, a pool is not worth it."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.sender = settings.mail_from
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout_seconds

    async def send(self, message: MailMessage) -> None:
        """Deliver the message, or raise ``MailDeliveryFailed`` (no host or address in it)."""
        if not self.host:
            raise MailDeliveryFailed("No SMTP server is configured.")
        try:
            await aiosmtplib.send(
                message.to_email(self.sender),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailDeliveryFailed(
                f"The mail server refused or failed ({type(exc).__name__})."
            ) from exc
