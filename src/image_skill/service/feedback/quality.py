"""How actionable a feedback signal is, and what would make it more so.

Three things turn a narrative into something a maintainer can act on: the
command that was run, evidence to check (trace, job, event or asset ids) and
the gap between expected and actual. Each missing one earns a specific
warning. The signal is stored either way; ``allow_weak_signal`` only says the
sender knows and does not want the reminders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WARNINGS: dict[str, str] = {
    "command": (
        "Weak signal: no command. Say which command or workflow was run "
        "(command / --command) so the report can be reproduced."
    ),
    "evidence": (
        "Weak signal: no evidence. Cite at least one reference such as trace:TRACE_ID, "
        "job:JOB_ID or evt:EVENT_ID (evidence / --evidence) so the report can be checked."
    ),
    "expected_actual": (
        "Weak signal: expected and actual are not both given. State what should have "
        "happened and what did (expected and actual / --expected and --actual)."
    ),
}
LEVELS = ("strong", "partial", "partial", "weak")  # indexed by the number of gaps


@dataclass(frozen=True)
class Quality:
    """The gaps of one signal and the warnings the sender gets for them."""

    missing: list[str]
    allow_weak_signal: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        """``strong`` (no gaps), ``partial`` or ``weak`` (all three missing)."""
        return LEVELS[len(self.missing)]

    def view(self) -> dict[str, Any]:
        """The ``quality`` object of the response."""
        return {
            "level": self.level,
            "missing": list(self.missing),
            "warnings": list(self.warnings),
            "weak_signal_allowed": self.allow_weak_signal,
        }


def assess(
    *,
    command: str | None,
    evidence: list[str],
    expected: str | None,
    actual: str | None,
    allow_weak_signal: bool,
) -> Quality:
    """The quality of a signal with these fields."""
    missing = []
    if not command:
        missing.append("command")
    if not evidence:
        missing.append("evidence")
    if not (expected and actual):
        missing.append("expected_actual")
    warnings = [] if allow_weak_signal else [WARNINGS[gap] for gap in missing]
    return Quality(missing=missing, allow_weak_signal=allow_weak_signal, warnings=warnings)
