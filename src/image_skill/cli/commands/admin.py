"""``admin``: operator commands on this machine's service database, never over HTTP.

They read the service settings from the environment (``IMAGE_SKILL_DATABASE_URL``,
or the SQLite database under ``IMAGE_SKILL_HOME``), migrate the database like the
service does on start, and act on it directly. No token is involved: whoever can
reach the database is the operator.
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.contract.errors import ErrorCode, ImageSkillError, flag_required, invalid_arguments
from image_skill.result import Result

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from image_skill.service.settings import Settings


P = ParamSpec("P")
# A service function of the admin domain: a session first, then its own arguments.
Call = Callable[Concatenate["AsyncSession", P], Awaitable[dict[str, Any]]]
_REMOTE_FLAGS = (("api_base_url", "--api-base-url"), ("token", "--token"))


def register(reg: Registrar) -> None:
    """Add the admin commands."""
    reg.group("admin", "Operator commands on this machine's service database (never over HTTP).")

    reg.group("admin agents", "Agents.")
    agents = reg.command("admin agents list", run_agents_list, "List agents, newest first.")
    agents.add_argument("--claim-state", metavar="STATE", help="only agents in this claim state")
    _limit(agents)
    claim = reg.command("admin agents claim", run_agents_claim, "Mark an agent claimed.")
    _actor(claim)

    reg.group("admin tokens", "Agent tokens.")
    revoke = reg.command(
        "admin tokens revoke", run_tokens_revoke, "Revoke every live token of an agent."
    )
    _actor(revoke)
    revoke.add_argument(
        "--agent", action="store_true", help="also revoke the agent (claim state revoked)"
    )

    reg.group("admin credits", "Credit grants.")
    grant = reg.command(
        "admin credits grant", run_credits_grant, "Grant credits to an agent (append-only)."
    )
    _actor(grant)
    grant.add_argument("--credits", metavar="N", help="credits to grant (1-1000000)")
    grant.add_argument("--reason", metavar="TEXT", help="why (recorded on the ledger row)")

    reg.group("admin feedback", "Product feedback triage.")
    feedback = reg.command("admin feedback list", run_feedback_list, "List feedback, newest first.")
    feedback.add_argument("--next-state", metavar="STATE", help="only feedback in this state")
    _limit(feedback)
    triage = reg.command(
        "admin feedback triage", run_feedback_triage, "Move feedback to its next state."
    )
    triage.add_argument("feedback_id", metavar="FEEDBACK_ID", nargs="?", help="a sig_ id")
    triage.add_argument("--next-state", metavar="STATE", help="the new state, e.g. watch")
    triage.add_argument("--note", metavar="TEXT", help="a triage note")

    reg.group("admin jobs", "Jobs.")
    repair = reg.command(
        "admin jobs repair",
        run_jobs_repair,
        "Store the spooled output of jobs that failed with ARTIFACT_STORAGE_WRITE_FAILED "
        "and complete them (no new provider call, no charge).",
    )
    repair.add_argument(
        "job_id", metavar="JOB_ID", nargs="?", help="one job (default: every repairable job)"
    )
    jobs = reg.command(
        "admin jobs list",
        run_jobs_list,
        "List jobs oldest first: unfinished ones (queued, running) with their lease, by default.",
    )
    jobs.add_argument("--status", metavar="STATUS", help="only jobs in this status")
    _limit(jobs)
    resolve = reg.command(
        "admin jobs resolve",
        run_jobs_resolve,
        "End an unfinished job by hand: --fail fails it (JOB_INTERRUPTED) and releases its "
        "credits (recorded in activity).",
    )
    resolve.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job id")
    resolve.add_argument(
        "--fail", action="store_true", help="fail the job and release its reservation"
    )


def _actor(parser: ArgumentParser) -> None:
    parser.add_argument("actor_id", metavar="ACTOR_ID", nargs="?", help="an agent id (agt_...)")


def _limit(parser: ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, metavar="N", help="at most N rows (default 50)")


# -- plumbing ---------------------------------------------------------------------------


def _read(context: Context, call: Call[P], *args: P.args, **kwargs: P.kwargs) -> Result:
    """Migrate, run ``call`` in a read-only transaction, answer a local envelope."""
    return _in_session(context, False, lambda session: call(session, *args, **kwargs))


def _write(context: Context, call: Call[P], *args: P.args, **kwargs: P.kwargs) -> Result:
    """Migrate, run ``call`` in one write transaction, answer a local envelope."""
    return _in_session(context, True, lambda session: call(session, *args, **kwargs))


def _in_session(
    context: Context, write: bool, work: Callable[[AsyncSession], Awaitable[dict[str, Any]]]
) -> Result:
    from image_skill.service.admin.database import in_session

    return _run_on(context, lambda settings: in_session(settings, work, write=write))


def _run_on(
    context: Context, operation: Callable[[Settings], Coroutine[Any, Any, dict[str, Any]]]
) -> Result:
    """Migrate, run ``operation`` on the service settings, answer a local envelope."""
    import asyncio

    from sqlalchemy.exc import InterfaceError, OperationalError

    from image_skill.cli.runner import local_result
    from image_skill.service.admin.database import prepare

    for dest, flag in _REMOTE_FLAGS:
        if getattr(context.args, dest, None) is not None:
            raise invalid_arguments(
                f"admin acts on this machine's database; {flag} does not apply.", field=flag
            )
    if getattr(context.args, "token_stdin", False):
        raise invalid_arguments(
            "admin acts on this machine's database; --token-stdin does not apply.",
            field="--token-stdin",
        )
    from image_skill.service.settings import server_settings

    settings = server_settings()
    try:
        prepare(settings)
        data = asyncio.run(operation(settings))
    except (OperationalError, InterfaceError):
        raise ImageSkillError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The service database could not be reached or is busy.",
            recovery={"suggested_command": "image-skill admin agents list --json"},
            retryable=True,
        ) from None
    warnings = []
    if context.base_source in ("env", "config"):
        warnings.append(
            "admin ignores the configured API base URL: it acts on this machine's database."
        )
    return local_result(context.command, data, warnings=warnings)


def _count(value: str | None, flag: str) -> int:
    text = (value or "").strip()
    if not text:
        raise flag_required(f"{flag} is required.", flag)
    if not text.isdigit():
        raise invalid_arguments(f"{flag} must be a whole number, e.g. 500.", field=flag)
    return int(text)


# -- handlers ---------------------------------------------------------------------------


def run_agents_list(context: Context, args: Namespace) -> Result:
    """List agents."""
    from image_skill.service.admin import service as admin

    return _read(context, admin.list_agents, claim_state=args.claim_state, limit=args.limit)


def run_agents_claim(context: Context, args: Namespace) -> Result:
    """Claim an agent."""
    from image_skill.service.admin import service as admin

    return _write(context, admin.claim_agent, str(context.require(args.actor_id, "ACTOR_ID")))


def run_tokens_revoke(context: Context, args: Namespace) -> Result:
    """Revoke an agent's tokens (and with --agent the agent)."""
    from image_skill.service.admin import service as admin

    actor_id = str(context.require(args.actor_id, "ACTOR_ID"))
    return _write(context, admin.revoke_tokens, actor_id, revoke_agent=args.agent)


def run_credits_grant(context: Context, args: Namespace) -> Result:
    """Grant credits."""
    from image_skill.service.admin import service as admin

    actor_id = str(context.require(args.actor_id, "ACTOR_ID"))
    credits = _count(args.credits, "--credits")
    reason = str(context.require(args.reason, "--reason"))
    return _write(context, admin.grant_credits, actor_id, credits=credits, reason=reason)


def run_feedback_list(context: Context, args: Namespace) -> Result:
    """List feedback."""
    from image_skill.service.admin import service as admin

    return _read(context, admin.list_feedback, next_state=args.next_state, limit=args.limit)


def run_feedback_triage(context: Context, args: Namespace) -> Result:
    """Triage one feedback item."""
    from image_skill.service.admin import service as admin

    feedback_id = str(context.require(args.feedback_id, "FEEDBACK_ID"))
    return _write(
        context, admin.triage_feedback, feedback_id, next_state=args.next_state, note=args.note
    )


def run_jobs_list(context: Context, args: Namespace) -> Result:
    """List jobs (unfinished ones by default)."""
    from image_skill.service.admin import jobs as admin_jobs

    return _read(context, admin_jobs.list_jobs, status=args.status, limit=args.limit)


def run_jobs_resolve(context: Context, args: Namespace) -> Result:
    """Fail one unfinished job by hand."""
    job_id = str(context.require(args.job_id, "JOB_ID")).strip()
    if not args.fail:
        raise flag_required(
            "Say how to resolve the job: --fail fails it and releases its credits.", "--fail"
        )

    async def operation(settings: Settings) -> dict[str, Any]:
        from image_skill.service.admin.jobs import resolve_job

        return await resolve_job(settings, job_id)

    return _run_on(context, operation)


def run_jobs_repair(context: Context, args: Namespace) -> Result:
    """Repair one job, or every job with spooled output."""
    job_id = (args.job_id or "").strip() or None

    async def operation(settings: Settings) -> dict[str, Any]:
        from image_skill.service.admin.database import repair_jobs

        return await repair_jobs(settings, job_id)

    return _run_on(context, operation)
