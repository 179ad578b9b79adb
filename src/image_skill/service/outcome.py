"""The one shape a service answers in when a bare domain object is not enough.

Services raise ``ImageSkillError`` for failures and return plain domain objects
for plain reads. When an answer also carries envelope warnings (a replayed
purchase, a missing idempotency key) or decides its own HTTP status (201 for a
new row, 200 for a merge), the service returns an ``Outcome`` and the route
hands its three parts to ``envelope_response`` unchanged: warnings never hide
inside the data, and the route never guesses the status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

DataT = TypeVar("DataT")


@dataclass(frozen=True)
class Outcome(Generic[DataT]):
    """A service's answer: its data, the envelope warnings and the HTTP status."""

    data: DataT
    warnings: list[str] = field(default_factory=list)
    status_code: int = 200
