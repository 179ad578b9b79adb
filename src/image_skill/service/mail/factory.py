"""Choosing the mail backend from settings, and saying at start-up when the choice is risky."""

from __future__ import annotations

import logging

from image_skill.service.mail.base import MailBackend
from image_skill.service.mail.outbox import OUTBOX_DIR, OutboxMailBackend
from image_skill.service.settings import Settings

log = logging.getLogger("image_skill.service")


def backend_for(settings: Settings) -> MailBackend:
    """The backend ``settings.mail_backend`` names."""
    if settings.mail_backend == "smtp":
        from image_skill.service.mail.smtp import SmtpMailBackend

        return SmtpMailBackend(settings)
    return OutboxMailBackend(settings.home / OUTBOX_DIR, settings.mail_from)


def warn_about_mail_settings(settings: Settings) -> None:
    """Log (once, at start) a mail setup that cannot reach real people."""
    if settings.embedded:
        return
    if settings.mail_backend == "outbox" and settings.environment == "production":
        log.warning(
            "mail: IMAGE_SKILL_MAIL_BACKEND=outbox in production; claim emails are written "
            "to the data directory's outbox and never sent (set it to smtp)"
        )
    if settings.mail_backend == "smtp" and not settings.smtp_host:
        log.warning("mail: IMAGE_SKILL_MAIL_BACKEND=smtp but IMAGE_SKILL_SMTP_HOST is not set")
