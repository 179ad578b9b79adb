"""The organization's webhook settings, its signing secret, the delivery log, and who may use them.

Only claimed agents (and the local owner) may point webhooks anywhere: an
unclaimed agent is anyone with a free signup, and the product rules forbid it
arbitrary webhooks. A URL is accepted only once the organization has a signing
secret, so every webhook sent can be verified. Functions that check a URL over
the network take the runtime and open their own short transaction after the
check, so no DNS lookup runs while the write lock is held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.contract.ids import is_id_shaped, new_id, utc_now
from image_skill.service.db.engine import session_scope
from image_skill.service.db.webhook_models import WebhookEndpoint
from image_skill.service.identity.principal import Principal
from image_skill.service.runtime import Runtime
from image_skill.service.webhooks import repository, signing
from image_skill.service.webhooks.schemas import delivery_view, endpoint_view
from image_skill.service.webhooks.targets import resolve_target

ROTATE_COMMAND = "image-skill webhooks rotate-secret --json"
T = TypeVar("T")
# A healthy queue runs a due delivery within seconds; past this, its entry is presumed lost.
OVERDUE_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class SecretIssued:
    """A signing secret just made: its plain value goes to the caller this once."""

    secret: str
    settings_view: dict[str, Any]


def require_webhooks(runtime: Runtime, principal: Principal) -> None:
    """Refuse unless webhooks are on and the caller is claimed (CLAIM_REQUIRED)."""
    if not runtime.settings.webhooks_on:
        raise ImageSkillError(
            ErrorCode.CAPABILITY_DENIED,
            "Webhooks are turned off on this service.",
            details={"field": "webhook_url"},
        )
    if runtime.settings.resolved_job_executor == "inline":
        # Embedded mode (or a server told to run jobs inline): nothing delivers or retries.
        raise ImageSkillError(
            ErrorCode.CAPABILITY_DENIED,
            "This service runs jobs inside each request and sends no webhooks: no process "
            "outlives the command to deliver or retry them. Run the service (image-skill "
            "serve) and point the CLI at it.",
            details={"field": "webhook_url"},
            recovery={"suggested_command": "image-skill serve --port 8787"},
        )
    if principal.claim_state != "claimed" and not principal.is_local_owner:
        raise ImageSkillError(
            ErrorCode.CLAIM_REQUIRED,
            "Only claimed agents may use webhooks; ask your human sponsor to claim this agent.",
            details={"field": "webhook_url"},
            recovery={"suggested_command": "image-skill claim request --json"},
        )


async def accept_job_webhook(runtime: Runtime, principal: Principal, url: str | None) -> str | None:
    """A create/edit ``webhook_url`` checked for the caller (claimed, secret, public target)."""
    if url is None:
        return None
    require_webhooks(runtime, principal)
    target = await resolve_target(url, allow_private=runtime.settings.webhook_allow_private_targets)
    async with session_scope(runtime.engine, write=False) as session:
        endpoint = await repository.endpoint(session, principal.organization_id)
    if endpoint is None or endpoint.secret_ciphertext is None:
        raise _secret_first()
    return target.url


async def settings_view(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """The caller's organization's webhook settings (never the secret)."""
    return endpoint_view(await repository.endpoint(session, principal.organization_id))


async def set_default_url(
    runtime: Runtime, principal: Principal, url: str | None
) -> tuple[dict[str, Any], str | None]:
    """Set (or clear, with None) the default URL; a first secret is made and returned once."""
    require_webhooks(runtime, principal)
    if url is not None:
        allow_private = runtime.settings.webhook_allow_private_targets
        url = (await resolve_target(url, allow_private=allow_private, field="default_url")).url

    def change(endpoint: WebhookEndpoint) -> tuple[dict[str, Any], str | None]:
        issued = None
        if endpoint.secret_ciphertext is None and url is not None:
            issued = _put_new_secret(runtime, endpoint)
        endpoint.default_url = url
        endpoint.updated_at = utc_now()
        return endpoint_view(endpoint), issued

    return await _edit_endpoint(runtime, principal.organization_id, change)


async def rotate_secret(runtime: Runtime, principal: Principal) -> SecretIssued:
    """Make a new signing secret (the old one stops signing at once); its value, once."""
    require_webhooks(runtime, principal)

    def change(endpoint: WebhookEndpoint) -> SecretIssued:
        secret = _put_new_secret(runtime, endpoint)
        return SecretIssued(secret, endpoint_view(endpoint))

    return await _edit_endpoint(runtime, principal.organization_id, change)


async def deliveries(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A page of the organization's deliveries, newest first, and the next page's cursor."""
    if cursor is not None and not (cursor.startswith("msg_") and is_id_shaped(cursor)):
        raise invalid_arguments(
            "cursor must be the next_cursor of a previous page (a msg_... id).", field="cursor"
        )
    rows = await repository.deliveries_page(
        session, principal.organization_id, limit=limit + 1, before=cursor
    )
    page = rows[:limit]
    return {
        "deliveries": [delivery_view(row) for row in page],
        "next_cursor": page[-1].id if len(rows) > limit else None,
    }


async def enqueue_pending(runtime: Runtime, *, limit: int = 10_000) -> int:
    """Hand every pending delivery to the queue again (start-up of an in-process queue)."""
    if runtime.queue is None:
        return 0
    now = utc_now()
    async with session_scope(runtime.engine, write=True) as session:
        due = await repository.pending(session, limit=limit)
        for delivery_id, next_attempt_at in due:
            await runtime.queue.enqueue_webhook(
                session, delivery_id, not_before=next_attempt_at or now
            )
    return len(due)


async def requeue_overdue(runtime: Runtime, *, limit: int = 500) -> int:
    """Hand deliveries overdue by ``OVERDUE_GRACE`` to the queue again (their queue entry was
    lost, e.g. with a killed worker); run by every process's sweep, row locks pick one."""
    if runtime.queue is None:
        return 0
    now = utc_now()
    async with session_scope(runtime.engine, write=True) as session:
        rows = await repository.overdue(session, due_before=now - OVERDUE_GRACE, limit=limit)
        for row in rows:
            row.next_attempt_at = row.updated_at = now
            await runtime.queue.enqueue_webhook(session, row.id, not_before=now)
    return len(rows)


async def _edit_endpoint(
    runtime: Runtime, organization_id: str, change: Callable[[WebhookEndpoint], T]
) -> T:
    """Apply ``change`` to the organization's endpoint row (made on first use), committed."""
    for attempt in (1, 2):
        try:
            async with session_scope(runtime.engine, write=True) as session:
                endpoint = await repository.endpoint(session, organization_id, for_update=True)
                if endpoint is None:
                    now = utc_now()
                    endpoint = WebhookEndpoint(
                        id=new_id("whep"),
                        organization_id=organization_id,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(endpoint)
                result = change(endpoint)
                await session.flush()
                return result
        except IntegrityError:
            # A concurrent first edit made the row; the second try finds and locks it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _put_new_secret(runtime: Runtime, endpoint: WebhookEndpoint) -> str:
    secret = signing.new_secret()
    endpoint.secret_ciphertext = signing.encrypt_secret(runtime.settings, secret)
    endpoint.secret_created_at = endpoint.updated_at = utc_now()
    return secret


def _secret_first() -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.CONFLICT,
        "Your organization has no webhook signing secret yet; create it first, keep it, "
        "and verify every webhook with it.",
        details={"field": "webhook_url"},
        recovery={"suggested_command": ROTATE_COMMAND},
    )
