"""One attempt at delivering a webhook, and when to try again.

``deliver`` is what the work queue runs for a delivery id. It is safe to run
twice or late: a delivery that is no longer pending, or whose next attempt is
not due, is left alone, and an attempt first moves ``next_attempt_at`` past its
own timeout, so a duplicate run of the same id in another process skips it. The
target is checked again (and connected to by the checked address) before every
attempt. The outcome is recorded, and the next attempt enqueued, in one
transaction: 2xx is delivered; anything else (another status, a redirect, a
timeout, a refused target) waits 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, then
every 4 h, each with jitter, and the delivery fails once
``webhook_retry_window_seconds`` (26 h) have passed since the event.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service.db.engine import in_transaction
from image_skill.service.runtime import Runtime
from image_skill.service.webhooks import repository, signing
from image_skill.service.webhooks.repository import as_utc
from image_skill.service.webhooks.targets import Target, resolve_target

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (30, 120, 600, 1800, 3600, 7200)
STEADY_SECONDS = 4 * 3600
JITTER = 0.1
USER_AGENT = "image-skill-webhooks/1"
# A queue may run an attempt a moment before its time; that still counts as due.
_EARLY = timedelta(seconds=1)


@dataclass(frozen=True)
class _Attempt:
    """What one attempt needs, read in a short transaction before the network call."""

    url: str
    body: bytes
    secret: str | None
    # Why there is no secret to sign with (the attempt then fails without sending).
    secret_problem: str | None = None


@dataclass(frozen=True)
class _Result:
    """How one attempt went: a status code and/or a short, secret-free error."""

    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """2xx: the receiver took it."""
        return self.status_code is not None and 200 <= self.status_code < 300


def next_attempt_at(
    attempts: int, created_at: datetime, now: datetime, window_seconds: float
) -> datetime | None:
    """When to try again after ``attempts`` failed attempts, or None once the window is over."""
    deadline = as_utc(created_at) + timedelta(seconds=window_seconds)
    if now >= deadline:
        return None
    base = BACKOFF_SECONDS[attempts - 1] if attempts <= len(BACKOFF_SECONDS) else STEADY_SECONDS
    delay = base * random.uniform(1 - JITTER, 1 + JITTER)
    return min(now + timedelta(seconds=delay), deadline)


async def deliver(runtime: Runtime, delivery_id: str) -> None:
    """Make one attempt at ``delivery_id`` if it is pending and due; record it; reschedule."""

    async def begin(session: AsyncSession) -> _Attempt | None:
        return await _begin(session, runtime, delivery_id)

    attempt = await in_transaction(runtime.engine, begin, write=True)
    if attempt is None:
        return
    result = await _send(runtime, delivery_id, attempt)

    async def record(session: AsyncSession) -> None:
        await _record(session, runtime, delivery_id, result)

    await in_transaction(runtime.engine, record, write=True)


async def _begin(session: AsyncSession, runtime: Runtime, delivery_id: str) -> _Attempt | None:
    row = await repository.delivery(session, delivery_id, for_update=True)
    now = utc_now()
    if row is None or row.status != "pending":
        return None
    if row.next_attempt_at is not None and as_utc(row.next_attempt_at) > now + _EARLY:
        return None  # not due: a later enqueue owns it, or another process is attempting it
    # Hold the attempt: a duplicate run sees it as not due until this one has had its time.
    hold = runtime.settings.webhook_timeout_seconds + 30
    row.next_attempt_at = now + timedelta(seconds=hold)
    row.updated_at = now
    body = json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False).encode()
    endpoint = await repository.endpoint(session, row.organization_id)
    if endpoint is None or endpoint.secret_ciphertext is None:
        return _Attempt(row.url, body, None, "the organization has no signing secret")
    try:
        secret = signing.decrypt_secret(runtime.settings, endpoint.secret_ciphertext)
    except signing.SecretUnreadable:
        return _Attempt(row.url, body, None, "the signing secret is unreadable (server key)")
    return _Attempt(row.url, body, secret)


async def _send(runtime: Runtime, delivery_id: str, attempt: _Attempt) -> _Result:
    """POST the signed body once to an address checked just now; never raises."""
    if attempt.secret is None:
        return _Result(None, attempt.secret_problem)
    settings = runtime.settings
    try:
        target = await resolve_target(
            attempt.url, allow_private=settings.webhook_allow_private_targets
        )
    except ImageSkillError as refusal:
        return _Result(None, refusal.message[:300])
    signed = signing.sign(attempt.secret, delivery_id, utc_now(), attempt.body)
    timeout = settings.webhook_timeout_seconds
    try:
        # trust_env=False: an environment proxy would connect to the name, not the checked address.
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False
        ) as client:
            with anyio.fail_after(timeout):
                response = await post_to_first_reachable(client, target, attempt.body, signed)
    except TimeoutError:
        return _Result(None, "timed out")
    except httpx.HTTPError as exc:
        return _Result(None, f"request failed ({type(exc).__name__})")
    if 300 <= response.status_code < 400:
        return _Result(response.status_code, "redirects are not followed")
    if not 200 <= response.status_code < 300:
        return _Result(response.status_code, f"HTTP {response.status_code}")
    return _Result(response.status_code, None)


async def post_to_first_reachable(
    client: httpx.AsyncClient, target: Target, body: bytes, signed: dict[str, str]
) -> httpx.Response:
    """POST to the checked addresses in the resolver's order until one accepts a connection."""
    for index, address in enumerate(target.addresses):
        url, headers, extensions = target.pinned(address)
        headers.update(signed)
        headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
        request = client.build_request(
            "POST", url, content=body, headers=headers, extensions=extensions
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectError:
            if index == len(target.addresses) - 1:
                raise
            continue
        await response.aclose()  # the body is never read: the status is all we need
        return response
    raise AssertionError("a target has at least one address")  # pragma: no cover


async def _record(
    session: AsyncSession, runtime: Runtime, delivery_id: str, result: _Result
) -> None:
    row = await repository.delivery(session, delivery_id, for_update=True)
    if row is None or row.status != "pending":
        return
    now = utc_now()
    row.attempts += 1
    row.last_status_code = result.status_code
    row.last_error = result.error
    row.updated_at = now
    if result.delivered:
        row.status = "delivered"
        row.delivered_at = now
        row.next_attempt_at = None
        return
    retry_at = next_attempt_at(
        row.attempts, row.created_at, now, runtime.settings.webhook_retry_window_seconds
    )
    if retry_at is None:
        row.status = "failed"
        row.next_attempt_at = None
        log.info("webhook delivery %s failed for good after %d attempts", row.id, row.attempts)
        return
    row.next_attempt_at = retry_at
    if runtime.queue is not None:
        await runtime.queue.enqueue_webhook(session, row.id, not_before=retry_at)
