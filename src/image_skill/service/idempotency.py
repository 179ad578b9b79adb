"""Idempotency keys for create and edit.

The first request with a key binds it to a keyed hash of that request. A
replay with the same request gets the stored answer (or, while the first is
still running, its job); a different request under the same key is refused.
Retryable failures forget the key so a retry can run; everything else sticks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, flag_required, invalid_arguments
from image_skill.service.db.models import IdempotencyRecord

_KEY = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")


def check_key(key: str | None) -> str | None:
    """A valid key or INVALID_ARGUMENTS (keys are not secrets, but are bounded)."""
    if key is None:
        return None
    if not _KEY.match(key):
        raise invalid_arguments(
            "idempotency_key must be 1-200 characters of letters, digits and . _ : @ / + = -",
            field="idempotency_key",
        )
    return key


def require_key(key: str | None, why: str) -> str:
    """A valid key, or INVALID_ARGUMENTS saying why this call needs one."""
    checked = check_key(key)
    if checked is None:
        raise flag_required(
            f"idempotency_key is required: {why}.", "--idempotency-key", field="idempotency_key"
        )
    return checked


def request_hash(operation: str, body: dict[str, Any], pepper: str) -> str:
    """A keyed digest of the request (prompts are never stored, not even hashed plainly)."""
    canonical = json.dumps({"operation": operation, **body}, sort_keys=True, default=str)
    return hmac.new(pepper.encode(), canonical.encode(), hashlib.sha256).hexdigest()


async def find(
    session: AsyncSession, actor_id: str, scope: str, key: str
) -> IdempotencyRecord | None:
    """The record of ``key`` for this actor and operation."""
    query = select(IdempotencyRecord).where(
        IdempotencyRecord.actor_id == actor_id,
        IdempotencyRecord.scope == scope,
        IdempotencyRecord.key == key,
    )
    return (await session.execute(query)).scalar_one_or_none()


def reused() -> ImageSkillError:
    """The refusal for a key bound to a different request."""
    return ImageSkillError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "This idempotency key was already used for a different request.",
        details={"field": "idempotency_key"},
        recovery={"required_flag": "--idempotency-key"},
    )


def stored_error(response: dict[str, Any]) -> ImageSkillError | None:
    """The error a record remembers, if the first attempt failed for good."""
    error = response.get("error")
    if not isinstance(error, dict):
        return None
    return ImageSkillError.from_wire(
        str(error.get("code")),
        str(error.get("message")),
        recovery=error.get("recovery"),
        retryable=bool(error.get("retryable")),
    )


async def forget(session: AsyncSession, actor_id: str, scope: str, key: str) -> None:
    """Drop a record so the key can be retried."""
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.actor_id == actor_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
        )
    )
