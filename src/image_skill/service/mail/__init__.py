"""Outgoing mail behind one tiny contract: an SMTP server in production, a file outbox in dev.

Claim links travel by email, so the service needs to send mail without caring
how. ``backend_for(settings)`` picks the backend named by ``mail_backend``.
"""

from image_skill.service.mail.base import MailBackend, MailDeliveryFailed, MailMessage
from image_skill.service.mail.factory import backend_for, warn_about_mail_settings

__all__ = [
    "MailBackend",
    "MailDeliveryFailed",
    "MailMessage",
    "backend_for",
    "warn_about_mail_settings",
]
