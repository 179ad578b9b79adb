"""``activity list`` and ``activity show``: read the organization's activity ledger."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS, render_human
from image_skill.cli.parser import Registrar
from image_skill.cli.values import MAX_LIMIT, page_limit
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add the activity commands (the group itself needs a subcommand)."""
    reg.group("activity", "The activity ledger: what happened, with stable ids to cite.")
    listing = reg.command("activity list", run_list, "List recent activity events, newest first.")
    listing.add_argument("--limit", type=int, metavar="N", help=f"at most N events (1-{MAX_LIMIT})")
    listing.add_argument("--subject", metavar="ID", help="only events that refer to this id")
    listing.add_argument("--cursor", metavar="CURSOR", help="continue from a previous page")
    show = reg.command(
        "activity show", run_show, "Show one event (evt_...) or the events of a job, asset, ..."
    )
    show.add_argument(
        "reference",
        metavar="REFERENCE",
        nargs="?",
        help="evt_, job_, image_, usage_, sig_, trace_, quote_, payatt_, receipt_ "
        "or credit_event_ id",
    )
    HUMAN_RENDERERS["image-skill activity list"] = render_events
    HUMAN_RENDERERS["image-skill activity show"] = render_events


def run_list(context: Context, args: Namespace) -> Result:
    """``GET /v1/activity``."""
    limit = page_limit(args.limit)
    subject = args.subject.strip() if args.subject else None
    cursor = args.cursor.strip() if args.cursor else None
    return context.client().activity(limit=limit, subject=subject, cursor=cursor)


def run_show(context: Context, args: Namespace) -> Result:
    """``GET /v1/activity/{reference}``."""
    reference = str(context.require(args.reference, "REFERENCE")).strip()
    return context.client().activity_event(reference)


def event_line(event: dict[str, Any]) -> str:
    """``event_id  time  type  summary  (subject)`` for one event: the id is what
    ``activity show`` takes."""
    subject = event.get("subject") or {}
    return (
        f"{event.get('event_id')}  {event.get('occurred_at')}  {event.get('type')}  "
        f"{event.get('summary')}  ({subject.get('type')} {subject.get('id')})"
    )


def render_events(data: Any) -> str:
    """One line per event, then how to get the next page."""
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return render_human(data)
    events = [event for event in data["events"] if isinstance(event, dict)]
    lines = [event_line(event) for event in events] or ["No activity events."]
    if data.get("next_cursor"):
        lines.append(f"more: image-skill activity list --cursor {data['next_cursor']}")
    return "\n".join(lines)
