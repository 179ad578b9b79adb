"""The Python SDK: one method per endpoint; the CLI is built on it.

With no ``base_url`` the client runs the service in-process (embedded mode),
so ``Client().whoami()`` works on a fresh machine with no server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from image_skill import __version__
from image_skill.contract.envelope import EXIT_CODE_HEADER, failure
from image_skill.contract.errors import ImageSkillError, exit_code_for_status
from image_skill.contract.ids import new_trace_id
from image_skill.transport import RawResponse, Transport, TransportError

USER_AGENT = f"image-skill-python/{__version__}"


@dataclass
class Result:
    """One API answer: the envelope and the exit code it stands for."""

    envelope: dict[str, Any]
    exit_code: int
    status: int = 0

    @property
    def ok(self) -> bool:
        """True on success."""
        return bool(self.envelope.get("ok"))

    @property
    def data(self) -> Any:
        """The envelope's ``data``."""
        return self.envelope.get("data")

    @property
    def error(self) -> dict[str, Any] | None:
        """The envelope's ``error`` (None on success)."""
        error = self.envelope.get("error")
        return error if isinstance(error, dict) else None

    def raise_for_error(self) -> Result:
        """Raise ``ImageSkillError`` if the call failed; return self otherwise."""
        if not self.ok:
            error = self.error or {}
            raise ImageSkillError(
                str(error.get("code", "PUBLIC_CLI_FAILED")),
                str(error.get("message", "The call failed.")),
                recovery=error.get("recovery"),
            )
        return self


class Client:
    """Image Skill API client (hosted over HTTP, or embedded in-process)."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        transport: Transport | None = None,
        timeout: float = 120.0,
        command: str | None = None,
    ) -> None:
        if transport is None:
            if base_url:
                from image_skill.transport.http import HttpTransport

                transport = HttpTransport(base_url, timeout=timeout)
            else:
                from image_skill.transport.embedded import EmbeddedTransport

                transport = EmbeddedTransport()
        self.transport = transport
        self.token = token
        self.command = command
        self.base_url = base_url

    @property
    def embedded(self) -> bool:
        """True when the service runs inside this process."""
        return self.transport.description == "embedded"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections (and stop the embedded service)."""
        self.transport.close()

    # -- plumbing -------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Result:
        """Send one call and return its envelope; never raises for API errors."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = path + ("?" + urlencode(query) if query else "")
        sent = {"accept": "application/json", "user-agent": USER_AGENT}
        sent["x-image-skill-cli-version"] = __version__
        if self.command:
            sent["x-image-skill-command"] = self.command
        if auth and self.token:
            sent["authorization"] = f"Bearer {self.token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent["content-type"] = "application/json"
        sent.update(headers or {})
        try:
            raw = self.transport.send(method, target, headers=sent, body=payload)
        except TransportError as exc:
            return self._transport_failure(exc)
        return _to_result(raw, self.command or "image-skill api")

    def _transport_failure(self, exc: TransportError) -> Result:
        code = "TIMEOUT" if exc.timed_out else "HOSTED_API_REQUEST_FAILED"
        error = ImageSkillError(
            code,
            f"{exc} ({self.transport.description})",
            recovery={
                "suggested_command": "image-skill doctor --json",
                "docs_url": "https://image-skill.com/cli.md",
            },
            retryable=True,
        )
        envelope = failure(self.command or "image-skill api", error, trace_id=new_trace_id())
        return Result(envelope, error.exit_code)

    # -- endpoints ------------------------------------------------------------

    def health(self) -> Result:
        """``GET /healthz``."""
        return self.request("GET", "/healthz", auth=False)

    def signup(
        self,
        human_email: str,
        agent_name: str,
        *,
        runtime: str | None = None,
        return_token: bool = True,
    ) -> Result:
        """``POST /v1/agent-signups``: create or rotate a restricted agent."""
        body = {
            "human_email": human_email,
            "agent_name": agent_name,
            "runtime": runtime,
            "return_token": return_token,
        }
        return self.request("POST", "/v1/agent-signups", body=body)

    def whoami(self) -> Result:
        """``GET /v1/whoami``."""
        return self.request("GET", "/v1/whoami")

    def quota(self) -> Result:
        """``GET /v1/quota``."""
        return self.request("GET", "/v1/quota")


def path_segment(value: str) -> str:
    """Quote a user-supplied id for use in a URL path."""
    return quote(value, safe="")


def _to_result(raw: RawResponse, command: str) -> Result:
    header = raw.headers.get(EXIT_CODE_HEADER)
    try:
        envelope = json.loads(raw.body)
        if not isinstance(envelope, dict) or "ok" not in envelope:
            raise ValueError("not an envelope")
    except ValueError:
        error = ImageSkillError(
            "HOSTED_API_REQUEST_FAILED",
            f"The service answered HTTP {raw.status} without a JSON envelope.",
            recovery={"suggested_command": "image-skill doctor --json"},
            retryable=raw.status >= 500,
        )
        return Result(failure(command, error, trace_id=new_trace_id()), error.exit_code, raw.status)
    if header is not None and header.strip().isdigit():
        exit_code = int(header)
    else:
        exit_code = 0 if envelope.get("ok") else exit_code_for_status(raw.status)
    return Result(envelope, exit_code, raw.status)
