"""How ``usage quota`` (and ``quota``) read to a human: a few lines instead of the full
nested answer (``--json`` keeps every field). Registered by ``identity.register``."""

from __future__ import annotations

from image_skill.cli.output import render_human

# Not ``typing.TYPE_CHECKING``: a hosted ``quota`` imports this module (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _credits(n: Any) -> str:
    return f"{n} credit" + ("" if n == 1 else "s")


def _cap(used: Any, cap: Any) -> str:
    return f"{used}" if cap is None else f"{used} of {cap}"


def render_quota(data: Any) -> str:
    """Balance, spending, today's jobs and uploads, refused attempts, signup and grants."""
    if not isinstance(data, dict) or not isinstance(data.get("spending"), dict):
        return render_human(data)
    spent = data["spending"]
    jobs = data.get("jobs") or {}
    uploads = data.get("uploads") or {}
    limits = data.get("limits") or {}
    lines = [
        "credits: unlimited (local owner)"
        if limits.get("unlimited")
        else f"credits: {_credits(spent.get('remaining_credits'))} left "
        f"(${spent.get('remaining_usd', 0):.2f}), {spent.get('reserved_credits')} reserved",
        f"spent: {_credits(spent.get('spent_today_credits'))} today "
        f"(${spent.get('spent_today_usd', 0):.2f}), {_credits(spent.get('spent_total_credits'))} "
        f"in total (${spent.get('spent_total_usd', 0):.2f})",
        f"jobs today: {_cap(jobs.get('used_today'), jobs.get('daily_cap'))}; uploads today: "
        f"{_cap(uploads.get('used_today'), uploads.get('daily_cap'))} "
        f"(resets {jobs.get('resets_at')})",
    ]
    refusals = data.get("refusals")
    if isinstance(refusals, dict):
        line = f"refused today: {refusals.get('today')}"
        recent = refusals.get("recent") or []
        if recent and isinstance(recent[0], dict):
            line += f" (newest: {recent[0].get('job_id')} {recent[0].get('code')})"
        lines.append(f"{line}; list them: {refusals.get('list_command')}")
    history = data.get("history")
    if isinstance(history, dict):
        lines.append(f"signed up: {history.get('signed_up_at')}")
        for grant in history.get("grants") or []:
            if isinstance(grant, dict):
                lines.append(
                    f"granted: {_credits(grant.get('credits'))} ({grant.get('reason')}) "
                    f"{grant.get('granted_at')}  {grant.get('credit_event_id')}"
                )
    return "\n".join(lines)
