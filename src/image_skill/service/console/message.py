"""The sign-in email: the one-time link, how long it works, and what to do if unexpected."""

from __future__ import annotations

from image_skill.service.console.sessions import LINK_TTL
from image_skill.service.mail.base import MailMessage
from image_skill.service.settings import Settings

DEFAULT_LOCAL_BASE = "http://127.0.0.1:8787"


def sign_in_url(settings: Settings, token: str) -> str:
    """``<public base>/console/sign-in/<token>``; without a public base, the local default."""
    base = (settings.public_base_url or DEFAULT_LOCAL_BASE).rstrip("/")
    return f"{base}/console/sign-in/{token}"


def sign_in_message(email: str, link: str) -> MailMessage:
    """The message that lets ``email`` sign in to the console once."""
    minutes = int(LINK_TTL.total_seconds() // 60)
    text = (
        "Someone asked to sign in to the Image Skill console with this address.\n"
        "\n"
        f"Sign in here (the link works once, for {minutes} minutes):\n"
        "\n"
        f"{link}\n"
        "\n"
        "Opening the link changes nothing; only the Sign in button on that page does.\n"
        "If you did not ask for this, ignore this email.\n"
    )
    return MailMessage(to=email, subject="Your Image Skill console sign-in link", text=text)
