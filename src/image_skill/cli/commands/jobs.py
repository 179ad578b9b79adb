"""``jobs show|list|wait|cancel``: following creative jobs.

``jobs wait`` lets the service hold the request (``GET /v1/jobs/{id}/wait``,
up to a minute per turn) instead of polling, so a job is reported the moment
any server process finishes it.
"""

from __future__ import annotations

import time
from argparse import Namespace
from typing import TYPE_CHECKING, Any

from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS, render_human
from image_skill.cli.parser import Registrar
from image_skill.cli.values import inner_object
from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments, spec_for
from image_skill.result import Result

if TYPE_CHECKING:
    from image_skill.client import Client

TERMINAL_STATUSES = ("completed", "failed", "canceled")
# The longest one server-side wait holds (the service's cap is 60 s).
WAIT_TURN_SECONDS = 55.0


def register(reg: Registrar) -> None:
    """Add the job commands."""
    reg.group("jobs", "Creative jobs.")
    job_show = reg.command("jobs show", run_job_show, "Show a job.")
    job_show.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job id")
    job_list = reg.command("jobs list", run_job_list, "List this agent's jobs, newest first.")
    job_list.add_argument("--limit", type=int, metavar="N", help="at most N jobs")
    job_list.add_argument("--cursor", metavar="CURSOR", help="continue from a previous page")
    job_list.add_argument("--status", metavar="STATUS", help="only jobs in this status")
    wait = reg.command(
        "jobs wait", run_job_wait, "Wait until a job completes, fails or is canceled."
    )
    wait.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job id")
    wait.add_argument(
        "--timeout-ms", type=int, default=30000, metavar="MS", help="give up after MS (30000)"
    )
    wait.add_argument(
        "--poll-interval-ms",
        type=int,
        default=1000,
        metavar="MS",
        help="poll every MS (1000), only against a service without server-side waiting",
    )
    cancel = reg.command(
        "jobs cancel",
        run_job_cancel,
        "Cancel a job: a queued one at once, a running one as soon as its executor sees it "
        "(never charged); data.cancel says which.",
    )
    cancel.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job id")
    HUMAN_RENDERERS["image-skill jobs list"] = render_jobs


def run_job_show(context: Context, args: Namespace) -> Result:
    """``GET /v1/jobs/{id}``."""
    return context.client().job(str(context.require(args.job_id, "JOB_ID")).strip())


def run_job_list(context: Context, args: Namespace) -> Result:
    """``GET /v1/jobs``."""
    if args.limit is not None and args.limit < 1:
        raise invalid_arguments("--limit must be at least 1.", field="--limit")
    return context.client().jobs(limit=args.limit, cursor=args.cursor, status=args.status)


def job_line(job: dict[str, Any]) -> str:
    """``job_id  status  operation  model  charged  created_at  [error code]`` for one job."""
    charged = (job.get("cost") or {}).get("credits_debited") or 0
    error = job.get("error") or {}
    ended = f"  {error.get('code')}" if error.get("code") else ""
    if error.get("code") and not job.get("started_at"):
        ended += " (never ran)"
    return (
        f"{job.get('job_id')}  {job.get('status')}  {job.get('operation')}  "
        f"{job.get('model_id') or '-'}  charged {charged} credit{'' if charged == 1 else 's'}  "
        f"{job.get('created_at')}{ended}"
    )


def render_jobs(data: Any) -> str:
    """One line per job, then how to get the next page."""
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        return render_human(data)
    lines = [job_line(job) for job in data["jobs"] if isinstance(job, dict)] or ["No jobs."]
    if data.get("next_cursor"):
        lines.append(f"more: image-skill jobs list --cursor {data['next_cursor']} (same --status)")
    return "\n".join(lines)


def run_job_cancel(context: Context, args: Namespace) -> Result:
    """``POST /v1/jobs/{id}/cancel``."""
    return context.client().cancel_job(str(context.require(args.job_id, "JOB_ID")).strip())


def job_of(data: Any) -> dict[str, Any]:
    """The job object of a job response (``data.job``, or ``data`` itself)."""
    return inner_object(data, "job")


def job_exit_code(job: dict[str, Any]) -> int:
    """0 unless a terminal job carries an error code, then that code's exit code."""
    error = job.get("error")
    if isinstance(error, dict) and error.get("code"):
        return spec_for(str(error["code"])).exit_code
    return 0


def run_job_wait(context: Context, args: Namespace) -> Result:
    """Wait server-side (``GET /v1/jobs/{id}/wait``, in turns of up to a minute) until
    the job is terminal or ``--timeout-ms`` passes."""
    job_id = str(context.require(args.job_id, "JOB_ID")).strip()
    if args.timeout_ms < 0:
        raise invalid_arguments("--timeout-ms must be 0 or more.", field="--timeout-ms")
    if args.poll_interval_ms < 1:
        raise invalid_arguments(
            "--poll-interval-ms must be at least 1.", field="--poll-interval-ms"
        )
    result, status = wait_for_job(
        context.client(), job_id, args.timeout_ms / 1000, args.poll_interval_ms / 1000
    )
    if result is not None:
        return result
    raise ImageSkillError(
        ErrorCode.TIMEOUT,
        f"The job did not finish within {args.timeout_ms} ms (last status: {status}).",
        recovery={
            "suggested_command": f"image-skill jobs wait {job_id} --timeout-ms {args.timeout_ms} "
            "--json"
        },
        retryable=True,
        details={"job_id": job_id, "status": status},
    )


def wait_for_job(
    client: Client, job_id: str, timeout: float, poll_interval: float
) -> tuple[Result | None, str | None]:
    """The job's answer once terminal (or an error answer), else None and the last status.

    Each turn is one long poll of up to ``WAIT_TURN_SECONDS``; a service too old
    to wait server-side (no ``/wait`` route) is polled every ``poll_interval`` instead.
    """
    deadline = time.monotonic() + timeout
    status: str | None = None
    long_poll = True
    while True:
        remaining = deadline - time.monotonic()
        if long_poll:
            turn = max(0.1, min(WAIT_TURN_SECONDS, remaining))
            result = client.wait_job(job_id, timeout_seconds=round(turn, 1))
            if result.status in (404, 405) and client.job(job_id).ok:
                long_poll = False
                continue
        else:
            result = client.job(job_id)
        if not result.ok:
            return result, status
        job = job_of(result.data)
        status = job.get("status")
        if status in TERMINAL_STATUSES:
            return Result(result.envelope, job_exit_code(job), result.status), status
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, status
        if not long_poll:
            time.sleep(min(poll_interval, remaining))
