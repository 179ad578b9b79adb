"""What the console's tables and charts show, computed from domain rows (pure functions).

Rows carry only what a page may show: ids, names, states, money and times,
never a token, a prompt, a local path or a job's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from image_skill.service.db.models import Job
from image_skill.service.jobs.schemas import TERMINAL

# The chart's drawing box, in SVG user units (the SVG scales to the page width).
CHART_WIDTH = 720
CHART_HEIGHT = 180
_LABEL_ROOM = 22
_TOP_ROOM = 16
_MAX_BAR_WIDTH = 64


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its label, value, and rectangle."""

    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


def when(moment: datetime | None) -> str:
    """A timestamp as the console shows it (UTC, to the minute)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def job_row(job: Job, agent_names: dict[str, str]) -> dict[str, Any]:
    """A job as the jobs table and the asset page show it."""
    # A running job holds its reservation; an ended one charged what it debited (0 if
    # it failed or was refused, whatever it had reserved).
    settled = job.status in TERMINAL
    credits = job.credits_debited if settled else job.credits_reserved
    return {
        "job_id": job.id,
        "operation": job.operation,
        "status": job.status,
        "model_id": job.model_id or "",
        "agent": agent_names.get(job.actor_id, "(not an agent)"),
        "credits": credits,
        "credits_settled": settled,
        "estimated_usd": job.estimated_usd,
        "error_code": job.error_code or "",
        "created_at": when(job.created_at),
        "completed_at": when(job.completed_at),
    }


def days_back(today: date, count: int) -> list[str]:
    """The last ``count`` UTC days ending ``today``, oldest first, as ``YYYY-MM-DD``."""
    return [(today - timedelta(days=offset)).isoformat() for offset in range(count - 1, -1, -1)]


def bars(values: list[tuple[str, int]]) -> list[Bar]:
    """Bars for ``(label, value)`` pairs, scaled so the largest fills the chart's height."""
    if not values:
        return []
    top = max(value for _label, value in values) or 1
    slot = CHART_WIDTH / len(values)
    room = CHART_HEIGHT - _LABEL_ROOM - _TOP_ROOM
    drawn = []
    width = min(slot * 0.7, _MAX_BAR_WIDTH)
    for index, (label, value) in enumerate(values):
        height = room * value / top
        drawn.append(
            Bar(
                label=label,
                value=value,
                x=round(index * slot + (slot - width) / 2, 1),
                y=round(_TOP_ROOM + room - height, 1),
                width=round(width, 1),
                height=round(height, 1),
            )
        )
    return drawn
