"""``feedback create``: leave structured product feedback.

The CLI only shapes the request (trimming, splitting ``--surface`` on commas)
and insists on a title or a body. Everything else is the service's job:
severity and confidence scales, quality guidance, deduplication, and refusing
text that looks like a credential (nothing is stored then, and the answer
names the field, never the value).
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Iterable
from typing import Any

from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS, render_human
from image_skill.cli.parser import Registrar
from image_skill.cli.values import optional_text
from image_skill.contract.errors import flag_required
from image_skill.result import Result

# (flag, request field, help) for every free-text option, in the 0.1.0 client's order.
TEXT_OPTIONS = (
    ("--type", "type", "kind of signal (default user_feedback)"),
    ("--title", "title", "short concrete title (this or --body is required)"),
    ("--body", "body", "what happened, what was expected, and why it matters"),
    ("--command", "command", "the command or workflow observed"),
    ("--expected", "expected", "the expected result"),
    ("--actual", "actual", "the actual result"),
    ("--friction", "friction", "what made the workflow harder than it should be"),
    ("--proof-needed", "proof_needed", "what would prove this is handled"),
    ("--strategic-reason", "strategic_reason", "why this matters beyond this one run"),
    ("--severity", "severity", "low, medium (default), high or critical"),
    ("--confidence", "confidence", "low, medium (default) or high"),
    ("--next-state", "next_state", "e.g. new (default), watch, investigate, fix"),
    ("--dedupe-key", "dedupe_key", "repeats with the same key merge into one report"),
    ("--source", "source", "where the signal comes from (agent, runtime, tool)"),
    ("--trace-id", "trace_id", "the trace id of the call this is about"),
)


def register(reg: Registrar) -> None:
    """Add the feedback commands."""
    reg.group("feedback", "Product feedback.")
    create = reg.command("feedback create", run_create, "Leave structured product feedback.")
    for flag, field, help_text in TEXT_OPTIONS:
        create.add_argument(flag, dest=field, metavar=field.upper(), help=help_text)
    create.add_argument(
        "--surface",
        action="append",
        metavar="SURFACE",
        help="affected surfaces, comma-separated and/or repeated (e.g. cli,docs)",
    )
    create.add_argument(
        "--evidence",
        action="append",
        metavar="REF",
        help="a reference to check, e.g. trace:TRACE_ID or job:JOB_ID (repeatable)",
    )
    create.add_argument(
        "--allow-weak-signal",
        action="store_true",
        help="store without the reminders about missing command, evidence or expected/actual",
    )
    HUMAN_RENDERERS["image-skill feedback create"] = render_create


def _distinct(values: Iterable[str]) -> list[str]:
    """Trimmed, non-empty values, first occurrence kept, order preserved."""
    found: list[str] = []
    for value in values:
        value = value.strip()
        if value and value not in found:
            found.append(value)
    return found


def _surfaces(values: list[str] | None) -> list[str]:
    return _distinct(part for value in values or [] for part in value.split(","))


def request_fields(args: Namespace) -> dict[str, Any]:
    """The ``POST /v1/feedback`` body for ``args`` (unset options left out)."""
    fields: dict[str, Any] = {}
    for _flag, field, _help in TEXT_OPTIONS:
        value = optional_text(getattr(args, field))
        if value is not None:
            fields[field] = value
    if fields.get("title") is None and fields.get("body") is None:
        raise flag_required(
            "Give --title or --body (ideally both).",
            "--title",
            suggested_command='image-skill feedback create --title "..." --body "..." --json',
        )
    fields["surface"] = _surfaces(args.surface)
    fields["evidence"] = _distinct(args.evidence or [])
    if args.allow_weak_signal:
        fields["allow_weak_signal"] = True
    return fields


def run_create(context: Context, args: Namespace) -> Result:
    """``POST /v1/feedback``."""
    return context.client().feedback(**request_fields(args))


def render_create(data: Any) -> str:
    """The feedback id and its quality, or why nothing was stored.

    The full quality warnings are envelope warnings, which go to stderr.
    """
    if not isinstance(data, dict) or "stored" not in data:
        return render_human(data)
    if not data.get("stored"):
        return (
            f"not stored: the '{data.get('field')}' field looks like a secret "
            f"({data.get('reason')}); remove it and send the feedback again"
        )
    lines = [f"feedback: {data.get('feedback_id')}"]
    if data.get("deduplicated"):
        lines[0] += f" (merged, {data.get('occurrences')} occurrences)"
    quality = data.get("quality") or {}
    missing = [str(gap).replace("_", "/") for gap in quality.get("missing") or []]
    level = quality.get("level")
    lines.append(f"quality:  {level}" + (f" (missing: {', '.join(missing)})" if missing else ""))
    lines.append(f"state:    {data.get('next_state')}")
    lines.append(f"next:     image-skill activity show {data.get('feedback_id')}")
    return "\n".join(lines)
