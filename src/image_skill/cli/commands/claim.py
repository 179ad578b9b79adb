"""``claim request``, ``claim status`` and ``claim link``: ask the sponsor to claim this agent.

The service never returns a claim link to the agent: the link goes by email
to the sponsor, and proving the mailbox is the point. ``claim link`` is for the
machine that holds the mail itself (embedded mode, or a server in dev whose
mail backend is the file outbox): it reads the newest outbox message for a
claim from the local data directory.
"""

from __future__ import annotations

import re
from argparse import Namespace
from pathlib import Path

from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.cli.runner import local_result
from image_skill.contract.errors import invalid_arguments, not_found
from image_skill.paths import data_home
from image_skill.result import Result

_CLAIM_ID = re.compile(r"claim_[A-Za-z0-9]{1,60}")
_LINK = re.compile(r"https?://\S+/claim/[A-Za-z0-9_-]{32,64}")
_CLAIM_HEADER = "X-Image-Skill-Claim-Id"
_OUTBOX_SCAN_LIMIT = 500


def register(reg: Registrar) -> None:
    """Add the claim commands."""
    reg.group("claim", "Ask your human sponsor to claim this agent (verified by email).")
    reg.command(
        "claim request", run_request, "Email the sponsor a one-time link to claim this agent."
    )
    status = reg.command(
        "claim status", run_status, "Show a claim's state (the newest claim when no id is given)."
    )
    status.add_argument("claim_id", metavar="CLAIM_ID", nargs="?", help="a claim_... id")
    link = reg.command(
        "claim link",
        run_link,
        "Print a claim's link from the local mail outbox (embedded mode or the server's machine).",
    )
    link.add_argument("claim_id", metavar="CLAIM_ID", nargs="?", help="a claim_... id")


def run_request(context: Context, _args: Namespace) -> Result:
    """``POST /v1/claims``."""
    return context.client().request_claim()


def run_status(context: Context, args: Namespace) -> Result:
    """``GET /v1/claims/{id}``; without an id, the newest of ``GET /v1/claims``."""
    if args.claim_id:
        return context.client().claim_status(_claim_id(args.claim_id))
    result = context.client().claim_status()
    if not result.ok:
        return result
    claims = result.data.get("claims") or []
    if not claims:
        raise not_found(
            "This agent has not asked to be claimed yet.",
            suggested_command="image-skill claim request --json",
        )
    result.envelope["data"] = {"claim": claims[0]}
    return result


def run_link(context: Context, args: Namespace) -> Result:
    """The link of the newest outbox message for a claim (never from the API)."""
    claim_id = _claim_id(context.require(args.claim_id, "CLAIM_ID"))
    outbox = data_home() / "outbox"
    link = _newest_link(outbox, claim_id)
    if link is None:
        raise not_found(
            "No message for this claim is in the local outbox. The link is only readable on "
            "the machine whose service wrote it (embedded mode, or a server with the outbox "
            "mail backend); otherwise it is in the sponsor's email.",
            suggested_command="image-skill claim status --json",
        )
    warnings = ["This link claims the agent for whoever confirms it; give it only to the sponsor."]
    if context.base_url is None:
        warnings.append("Embedded mode: run 'image-skill serve' to open the link in a browser.")
    return local_result(
        "image-skill claim link", {"claim_id": claim_id, "link": link}, warnings=warnings
    )


def _claim_id(value: str) -> str:
    claim_id = value.strip()
    if not _CLAIM_ID.fullmatch(claim_id):
        raise invalid_arguments("CLAIM_ID must be a claim_... id.", field="claim_id")
    return claim_id


def _newest_link(outbox: Path, claim_id: str) -> str | None:
    # Imported here: the email package costs ~15 ms, and every CLI call loads this module.
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    try:
        files = sorted(outbox.glob("*.eml"), reverse=True)[:_OUTBOX_SCAN_LIMIT]
    except OSError:
        return None
    for path in files:
        try:
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
        except OSError:
            continue
        if message.get(_CLAIM_HEADER) != claim_id or not isinstance(message, EmailMessage):
            continue
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        found = _LINK.search(text)
        if found:
            return found.group(0)
    return None
