"""Who is calling: the authenticated actor of a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTOR_TYPES = ("human", "agent", "session", "system")
CLAIM_STATES = ("unclaimed", "payment_backed_unclaimed", "claimed", "revoked")


@dataclass(frozen=True)
class Principal:
    """The actor behind a request, as resolved from its token (or local ownership)."""

    actor_id: str
    actor_type: str
    organization_id: str
    claim_state: str
    token_class: str
    token_id: str | None = None
    is_local_owner: bool = False

    def envelope_actor(self) -> dict[str, Any]:
        """The ``actor`` object of the envelope."""
        return {
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "organization_id": self.organization_id,
            "claim_state": self.claim_state,
        }
