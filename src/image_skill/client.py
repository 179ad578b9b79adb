"""The Python SDK: one method per endpoint; the CLI is built on it.

``Client()`` finds its service and token exactly as the CLI does
(``IMAGE_SKILL_API_BASE_URL``, ``IMAGE_SKILL_TOKEN``, the saved config; see
:mod:`image_skill.connection`), and with none of them runs the service
in-process (embedded mode), so ``Client().whoami()`` works on a fresh machine.
``Client(None)`` is always embedded; an explicit URL, token or transport wins.
"""

from __future__ import annotations

import json

from image_skill import __version__
from image_skill.connection import RESOLVE, for_sdk
from image_skill.contract.envelope import failure
from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.contract.ids import new_trace_id
from image_skill.result import Result, result_from_response
from image_skill.transport import TransportError

# Not ``typing.TYPE_CHECKING``: the hosted CLI imports the client on every call and
# needs neither ``typing`` nor the creative options for a ``whoami`` (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from image_skill.connection import Given
    from image_skill.contract.creative import CreativeOperation, CreativeOptions
    from image_skill.transport import Transport

USER_AGENT = f"image-skill-python/{__version__}"


class Client:
    """Image Skill API client (hosted over HTTP, or embedded in-process)."""

    def __init__(
        self,
        base_url: Given = RESOLVE,
        token: Given = RESOLVE,
        *,
        transport: Transport | None = None,
        timeout: float = 120.0,
        command: str | None = None,
    ) -> None:
        base_url, token = for_sdk(base_url, token, has_transport=transport is not None)
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
        self.timeout = timeout

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
        target = path
        if query:
            from urllib.parse import urlencode  # most calls send no query

            target += "?" + urlencode(query)
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
        except ValueError as exc:  # a header or path that would split the request
            refused = invalid_arguments(str(exc))
            envelope = failure(self.command or "image-skill api", refused, trace_id=new_trace_id())
            return Result(envelope, refused.exit_code)
        return result_from_response(raw, self.command or "image-skill api")

    def _transport_failure(self, exc: TransportError) -> Result:
        code = ErrorCode.TIMEOUT if exc.timed_out else ErrorCode.HOSTED_API_REQUEST_FAILED
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

    def request_claim(self) -> Result:
        """``POST /v1/claims``: email the agent's sponsor a one-time claim link."""
        return self.request("POST", "/v1/claims", body={})

    def claim_status(self, claim_id: str | None = None) -> Result:
        """``GET /v1/claims/{id}``, or ``GET /v1/claims`` (newest first) without an id."""
        if claim_id is None:
            return self.request("GET", "/v1/claims")
        return self.request("GET", f"/v1/claims/{path_segment(claim_id)}")

    # -- catalog (public, no token) --------------------------------------------

    def models(self) -> Result:
        """``GET /v1/models``: the public model catalog."""
        return self.request("GET", "/v1/models", auth=False)

    def model(self, model_id: str) -> Result:
        """``GET /v1/models/{id}``: one model's full schema."""
        return self.request("GET", f"/v1/models/{path_segment(model_id)}", auth=False)

    def capabilities(self) -> Result:
        """``GET /v1/capabilities``: the capability catalog."""
        return self.request("GET", "/v1/capabilities", auth=False)

    def capability(self, capability_id: str) -> Result:
        """``GET /v1/capabilities/{id}``: one capability."""
        return self.request("GET", f"/v1/capabilities/{path_segment(capability_id)}", auth=False)

    # -- creative ---------------------------------------------------------------

    def create(
        self,
        prompt: str,
        *,
        idempotency_key: str | None = None,
        wait: bool = True,
        **options: Any,
    ) -> Result:
        """``POST /v1/create``: generate an image (or plan one with ``dry_run=True``).

        ``options`` are the other fields of ``CreativeOptions`` (model, aspect_ratio ...);
        ``wait=False`` answers 202 with the queued job at once (``Prefer: respond-async``).
        """
        from image_skill.contract.creative import CreativeOptions

        chosen = CreativeOptions(prompt, **options)
        return self.creative("create", chosen, idempotency_key, wait=wait)

    def upload(
        self,
        source_kind: str,
        filename: str,
        remote_origin: str | None,
        mime_type: str | None,
        content_length: int,
        sha256: str,
        bytes_base64: str,
    ) -> Result:
        """``POST /v1/upload``: store client-read image bytes as an owned input asset."""
        body = {
            "source_kind": source_kind,
            "filename": filename,
            "remote_origin": remote_origin,
            "mime_type": mime_type,
            "content_length": content_length,
            "sha256": sha256,
            "bytes_base64": bytes_base64,
        }
        return self.request("POST", "/v1/upload", body=body)

    def edit(
        self,
        input_asset_id: str,
        prompt: str,
        *,
        idempotency_key: str | None = None,
        wait: bool = True,
        **options: Any,
    ) -> Result:
        """``POST /v1/edit``: edit an owned input asset; the rest as for ``create``."""
        from image_skill.contract.creative import CreativeOptions

        chosen = CreativeOptions(prompt, **options)
        return self.creative(
            "edit", chosen, idempotency_key, input_asset_id=input_asset_id, wait=wait
        )

    def creative(
        self,
        operation: CreativeOperation,
        options: CreativeOptions,
        idempotency_key: str | None = None,
        *,
        input_asset_id: str | None = None,
        wait: bool = True,
    ) -> Result:
        """``POST /v1/create`` or ``/v1/edit`` with ``options`` (an edit names its input).

        The service waits for the job (up to its limit) unless ``wait`` is False.
        """
        from image_skill.contract.creative import RESPOND_ASYNC

        body = options.body(operation, input_asset_id=input_asset_id)
        headers = {**(_idempotency(idempotency_key) or {}), **({} if wait else RESPOND_ASYNC)}
        return self.request("POST", f"/v1/{operation}", body=body, headers=headers or None)

    # -- assets and jobs --------------------------------------------------------

    def asset(self, asset_id: str) -> Result:
        """``GET /v1/assets/{id}``: an owned asset's metadata and URL."""
        return self.request("GET", f"/v1/assets/{path_segment(asset_id)}")

    def list_assets(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        kind: str | None = None,
        job: str | None = None,
    ) -> Result:
        """``GET /v1/assets``: the organization's assets, newest first (``kind``:
        generated, edited or uploaded; ``job``: one job's outputs)."""
        params = {"limit": limit, "cursor": cursor, "kind": kind, "job": job}
        return self.request("GET", "/v1/assets", params=params)

    def job(self, job_id: str) -> Result:
        """``GET /v1/jobs/{id}``."""
        return self.request("GET", f"/v1/jobs/{path_segment(job_id)}")

    def wait_job(self, job_id: str, *, timeout_seconds: float = 30) -> Result:
        """``GET /v1/jobs/{id}/wait``: the job once terminal, or as it is after the timeout.

        The service holds the request (up to 60 s) instead of the client polling.
        """
        params = {"timeout_seconds": f"{timeout_seconds:g}"}
        return self.request("GET", f"/v1/jobs/{path_segment(job_id)}/wait", params=params)

    def jobs(
        self, *, limit: int | None = None, cursor: str | None = None, status: str | None = None
    ) -> Result:
        """``GET /v1/jobs``: this agent's jobs, newest first."""
        params = {"limit": limit, "cursor": cursor, "status": status}
        return self.request("GET", "/v1/jobs", params=params)

    def cancel_job(self, job_id: str) -> Result:
        """``POST /v1/jobs/{id}/cancel``: cancel a queued job now, or ask a running one to stop."""
        return self.request("POST", f"/v1/jobs/{path_segment(job_id)}/cancel", body={})

    # -- credits ------------------------------------------------------------------

    def credit_packs(self) -> Result:
        """``GET /v1/credit-packs``: the public pack catalog (no token)."""
        return self.request("GET", "/v1/credit-packs", auth=False)

    def credit_quote(
        self,
        *,
        credits: int | None = None,
        pack_id: str | None = None,
        payment_method: str | None = None,
        idempotency_key: str,
    ) -> Result:
        """``POST /v1/credit-quotes``: bounded, expiring terms (grants nothing); no
        ``payment_method`` lets the service pick the rail it has configured."""
        body: dict[str, Any] = {"idempotency_key": idempotency_key}
        if payment_method is not None:
            body["payment_method"] = payment_method
        if credits is not None:
            body["credits"] = credits
        if pack_id is not None:
            body["pack_id"] = pack_id
        return self.request("POST", "/v1/credit-quotes", body=body)

    def credit_buy(self, quote_id: str, idempotency_key: str) -> Result:
        """``POST /v1/credit-purchases/stripe-checkout-sessions``: a hosted checkout URL."""
        body = {"quote_id": quote_id, "idempotency_key": idempotency_key}
        return self.request("POST", "/v1/credit-purchases/stripe-checkout-sessions", body=body)

    def credit_fake_purchase(self, quote_id: str, idempotency_key: str) -> Result:
        """``POST /v1/credit-purchases``: settle a fake/test quote (no money moves)."""
        body = {"quote_id": quote_id, "idempotency_key": idempotency_key}
        return self.request("POST", "/v1/credit-purchases", body=body)

    def credit_status(
        self,
        *,
        quote_id: str | None = None,
        payment_attempt_id: str | None = None,
        checkout_session_id: str | None = None,
        receipt_id: str | None = None,
    ) -> Result:
        """``GET /v1/credit-purchases/status`` by exactly one reference."""
        params = {
            "quote_id": quote_id,
            "payment_attempt_id": payment_attempt_id,
            "checkout_session_id": checkout_session_id,
            "receipt_id": receipt_id,
        }
        return self.request("GET", "/v1/credit-purchases/status", params=params)

    # -- activity -------------------------------------------------------------------

    def activity(
        self, limit: int | None = None, subject: str | None = None, cursor: str | None = None
    ) -> Result:
        """``GET /v1/activity``: the organization's ledger, newest first."""
        params = {"limit": limit, "subject": subject, "cursor": cursor}
        return self.request("GET", "/v1/activity", params=params)

    def activity_event(self, reference: str) -> Result:
        """``GET /v1/activity/{reference}``: one event, or the events of a job, asset, ..."""
        return self.request("GET", f"/v1/activity/{path_segment(reference)}")

    # -- feedback -------------------------------------------------------------------

    def feedback(self, **fields: Any) -> Result:
        """``POST /v1/feedback``: structured product feedback (``title`` or ``body`` required).

        Fields are the request body's (``type``, ``title``, ``body``, ``severity``,
        ``surface``, ``evidence``, ...); None values are left out.
        """
        body = {key: value for key, value in fields.items() if value is not None}
        return self.request("POST", "/v1/feedback", body=body)

    def download(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        allow_file: bool | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Fetch an asset URL **without** the token: ``(status, headers, body)``.

        ``http(s)://`` goes over the network (redirects only to http/https);
        ``file://`` (the embedded store) is read locally and is allowed only in
        embedded mode unless ``allow_file`` says otherwise; a path such as
        ``/a/<id>.png`` is taken relative to the API base URL. Raises
        ``ImageSkillError`` (``ASSET_DOWNLOAD_FAILED``) when nothing came back and
        ``TIMEOUT`` when the whole download outlasts the client's timeout (or
        ``IMAGE_SKILL_DOWNLOAD_TIMEOUT_SECONDS``), even if bytes keep trickling in.
        """
        if allow_file is None:
            allow_file = self.embedded
        if url.startswith("/") and not url.startswith("//") and self.base_url:
            url = self.base_url.rstrip("/") + url  # a service-relative media path
        # Imported on first use, so commands that download nothing never load urllib.request.
        from image_skill.transport.download import deadline_seconds, fetch_url

        timeout = deadline_seconds(self.timeout)
        return fetch_url(url, timeout=timeout, max_bytes=max_bytes, allow_file=allow_file)


def _idempotency(key: str | None) -> dict[str, str] | None:
    return {"Idempotency-Key": key} if key else None


def path_segment(value: str) -> str:
    """Quote a user-supplied id for use in a URL path."""
    from urllib.parse import quote

    return quote(value, safe="")
