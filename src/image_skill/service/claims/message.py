"""The claim email: who asks, the one-time link, and that opening it changes nothing."""

from __future__ import annotations

from image_skill.contract.ids import iso
from image_skill.service.db.models import Actor, Claim
from image_skill.service.mail.base import MailMessage

CLAIM_ID_HEADER = "X-Image-Skill-Claim-Id"


def claim_message(claim: Claim, agent: Actor, link: str) -> MailMessage:
    """The message asking ``claim.sponsor_email`` to confirm ``agent``."""
    runtime = f" ({agent.runtime})" if agent.runtime else ""
    text = (
        "An AI agent signed up to Image Skill, named you as its sponsor, and asks you "
        "to claim it.\n"
        "\n"
        f"Agent: {agent.name}{runtime}\n"
        f"Signed up: {iso(agent.created_at)}\n"
        f"Claim: {claim.id}\n"
        "\n"
        "Review the request and confirm it here (the link works once and expires at "
        f"{iso(claim.expires_at)}):\n"
        "\n"
        f"{link}\n"
        "\n"
        "Opening the link changes nothing; only the Confirm button on that page does.\n"
        "If you do not know this agent, ignore this email.\n"
    )
    return MailMessage(
        to=claim.sponsor_email,
        subject="An AI agent asks you to claim it on Image Skill",
        text=text,
        headers={CLAIM_ID_HEADER: claim.id},
    )
