"""``POST /v1/cli``: run a public CLI command inside the service and answer its envelope.

The command runs exactly as the CLI would run it (same parser, same handlers,
same envelope), in a worker thread, with a client that calls this same app
in-process (``LoopbackTransport``) using the caller's ``Authorization``
header. It never sees the server's config file, environment tokens or stdin.
Commands that would act on the server's machine are refused
(``bridge.allowed_commands``).

It lives above both the service and the CLI: ``image_skill.server`` mounts it
on the served app, so the service itself never imports the CLI.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.bridge.allowed_commands import check
from image_skill.bridge.schemas import CliRequest
from image_skill.cli.context import Context, FixedService
from image_skill.cli.runner import execute
from image_skill.contract.envelope import EXIT_CODE_HEADER, TRACE_HEADER
from image_skill.contract.errors import spec_for
from image_skill.contract.ids import new_trace_id
from image_skill.result import Result
from image_skill.service.abuse.limiter import client_ip
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.openapi_errors import error_responses

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404, 409))

# Bridge commands get their own threads, so a burst of them can never take every
# thread of the default pool that the commands' own requests may need.
BRIDGE_THREADS = 16


def forwarded_token(authorization: str | None) -> str | None:
    """The caller's bearer token, passed on to the command as its own token.

    A malformed header is passed on whole, so a command that needs a token
    answers AUTH_INVALID exactly as the route would; no header means no token
    (the command answers AUTH_REQUIRED where one is needed).
    """
    if authorization is None or not authorization.strip():
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return authorization.strip()


def _limiter(app: Any) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "cli_bridge_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(BRIDGE_THREADS)
        app.state.cli_bridge_limiter = limiter
    return limiter


def status_for(envelope: dict[str, Any]) -> int:
    """HTTP status of a command's answer: it follows the envelope, never the exit code.

    A success envelope is 200 even when the command exits non-zero: ``jobs wait``
    on a failed job answers the job (``ok`` true) and exits with the job's error
    code's exit code, which travels in the exit-code header. Only an error
    envelope has a failure status, the one of its error code.
    """
    if envelope.get("ok"):
        return 200
    error = envelope.get("error") or {}
    return spec_for(str(error.get("code", ""))).http_status


# The command's own envelope: its ``data`` is whatever that command answers.
@router.post("/v1/cli", name="image-skill cli", **answers(Any))
async def run_cli(body: CliRequest, request: Request) -> JSONResponse:
    """Run ``argv`` as ``image-skill <argv> --json`` with the caller's token."""
    # Imported on first use (its HTTP client costs ~0.1 s): the embedded CLI's daemon
    # mounts this route but never calls it; ``image-skill serve`` imports it at start.
    from image_skill.transport.loopback import LoopbackTransport

    base_url = str(request.base_url).rstrip("/")
    fixed = FixedService(
        base_url=base_url,
        token=forwarded_token(request.headers.get("authorization")),
        transport=LoopbackTransport(
            request.app, base_url=base_url, client_address=client_ip(request)
        ),
    )

    def work() -> Result:
        return execute(
            list(body.argv),
            make_context=partial(Context, fixed=fixed),
            guard=partial(check, service_base_url=base_url),
        )

    result = await anyio.to_thread.run_sync(work, limiter=_limiter(request.app))
    envelope = result.envelope
    trace_id = str(envelope.get("trace_id") or new_trace_id())
    request.state.trace_id = trace_id
    headers = {EXIT_CODE_HEADER: str(result.exit_code), TRACE_HEADER: trace_id}
    recovery = (envelope.get("error") or {}).get("recovery") or {}
    if recovery.get("retry_after_seconds") is not None:
        headers["retry-after"] = str(int(recovery["retry_after_seconds"]))
    return JSONResponse(envelope, status_code=status_for(envelope), headers=headers)
