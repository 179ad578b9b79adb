"""What each claim state may do. Enforcement lives with each domain."""

from __future__ import annotations

_READ = ("docs.read", "models.read", "identity.read", "quota.read", "activity.read")
_BASIC = (
    *_READ,
    "feedback.create",
    "credits.quote",
    "credits.purchase",
    "asset.upload",
    "asset.read",
    "image.create.preview",
    "image.edit.preview",
)
_CLAIMED = (*_BASIC, "image.create", "image.edit", "jobs.bulk", "org.manage")

GRANTS_BY_CLAIM_STATE: dict[str, tuple[str, ...]] = {
    "unclaimed": _BASIC,
    "payment_backed_unclaimed": (*_BASIC, "image.create", "image.edit"),
    "claimed": _CLAIMED,
    "revoked": (),
}

TOKEN_CLASS_RESTRICTED = "restricted_agent"
TOKEN_CLASS_LOCAL_OWNER = "local_owner"


def grants_for(claim_state: str, *, is_local_owner: bool = False) -> list[str]:
    """Sorted grant names for an actor."""
    grants = set(GRANTS_BY_CLAIM_STATE.get(claim_state, ()))
    if is_local_owner:
        grants.update(("operator", "image.create", "image.edit"))
    return sorted(grants)
