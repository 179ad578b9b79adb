"""A local fake of the Stripe API and Stripe-signed webhook events, for tests.

``FakeStripe`` is a real HTTP server on a loopback port (a background thread)
that answers the part of Stripe's REST API this project uses, in Stripe's
documented wire format, so the official SDK can be pointed at it unchanged
(``base_addresses={"api": fake.url}``):

* ``POST /v1/checkout/sessions``: a form-encoded body in Stripe's bracket
  notation (``line_items[0][price_data][unit_amount]=500``,
  ``metadata[quote_id]=...``) in, a ``checkout.session`` object out.
* ``GET /v1/checkout/sessions/{id}``: the stored session (``update_session``
  moves it on, e.g. to ``payment_status="paid"``, as a payment would).
* ``Authorization: Bearer <secret key>`` is checked (401 otherwise), the
  ``Idempotency-Key`` header is honoured (same key and parameters -> the same
  object with ``Idempotent-Replayed: true``; same key, other parameters -> 400
  ``idempotency_error``; same key while the first request is still running ->
  409 ``idempotency_key_in_use``), unknown parameters, missing required ones and
  totals under Stripe's minimum charge answer 400 ``invalid_request_error``.
* Every request is recorded (headers, raw body, parsed form) and failures can
  be injected for the next N requests: an HTTP status (500, 429, 401, ...) or a
  delay. Open client connections are counted (``open_connections``).

``signed_event`` and ``checkout_event`` build webhook deliveries the way Stripe
does: an ``event`` object whose ``data.object`` is a ``checkout.session``, and a
``Stripe-Signature`` header ``t=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">``
keyed with the endpoint's signing secret.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2025-06-30.basil"
CHECKOUT_HOST = "https://checkout.stripe.com/c/pay/"
# Stripe's minimum charge, per currency, in the smallest unit (only what tests need).
MINIMUM_AMOUNT = {"usd": 50, "eur": 50, "gbp": 30}
_SESSION_PARAMS = frozenset(
    {
        "allow_promotion_codes",
        "automatic_tax",
        "billing_address_collection",
        "cancel_url",
        "client_reference_id",
        "consent_collection",
        "currency",
        "custom_text",
        "customer",
        "customer_creation",
        "customer_email",
        "discounts",
        "expand",
        "expires_at",
        "invoice_creation",
        "line_items",
        "locale",
        "metadata",
        "mode",
        "payment_intent_data",
        "payment_method_types",
        "phone_number_collection",
        "return_url",
        "submit_type",
        "success_url",
        "ui_mode",
    }
)
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_ALNUM = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


class StripeFormError(ValueError):
    """A form body that does not follow Stripe's bracket notation."""


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation to nested dicts and lists.

    ``a[b][0][c]=1`` -> ``{"a": {"b": [{"c": "1"}]}}``; ``expand[]=x`` appends.
    Dicts whose keys are all integers become lists in index order.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise StripeFormError(f"Invalid parameter name: {key}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: Any = root
        for index, part in enumerate(path):
            last = index == len(path) - 1
            if part == "":
                if not isinstance(node, list):
                    raise StripeFormError(f"Invalid array parameter: {key}")
                if last:
                    node.append(value)
                    break
                node.append({})
                node = node[-1]
                continue
            if not isinstance(node, dict):
                raise StripeFormError(f"Invalid parameter nesting: {key}")
            if last:
                if part in node:
                    raise StripeFormError(f"Duplicate parameter: {key}")
                node[part] = value
                break
            following = path[index + 1]
            default: Any = [] if following == "" else {}
            node = node.setdefault(part, default)
    return _lists(root)


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {key: _lists(item) for key, item in value.items()}
        if converted and all(key.isdigit() for key in converted):
            indexes = sorted(converted, key=int)
            if [int(key) for key in indexes] != list(range(len(indexes))):
                raise StripeFormError("Array indexes must be contiguous from 0.")
            return [converted[key] for key in indexes]
        return converted
    if isinstance(value, list):
        return [_lists(item) for item in value]
    return value


@dataclass
class RecordedRequest:
    """One request the fake received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form_pairs: list[tuple[str, str]]
    params: dict[str, Any]
    status: int = 0
    injected: str | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def form(self) -> dict[str, str]:
        """The flat form: ``{"line_items[0][price_data][unit_amount]": "500", ...}``."""
        return dict(self.form_pairs)

    @property
    def idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header, if sent."""
        return self.headers.get("idempotency-key")

    @property
    def bearer(self) -> str | None:
        """The API key of ``Authorization: Bearer <key>``, if sent."""
        value = self.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None


@dataclass
class _Injection:
    status: int | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None


def stripe_error(
    error_type: str, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """Stripe's error body: ``{"error": {"type", "message", "code"?, "param"?}}``."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return {"error": error}


class FakeStripe:
    """The fake API server. Use as a context manager or call ``start``/``stop``."""

    def __init__(self, api_key: str = "sk_test_fake_key_0000000000000000") -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = {}
        self._in_flight: set[tuple[str, str]] = set()
        self._open_connections = 0
        self.connections_accepted = 0
        self._injections: deque[_Injection] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        """Listen on a free loopback port in a daemon thread."""
        fake = self

        class Handler(_Handler):
            stripe = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-stripe",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and join the server thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the value for the SDK's ``api`` base address."""
        assert self._server is not None, "the fake is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- failure injection ----------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        retry_after: int | None = None,
        should_retry: bool | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (to ``path``, if given) with ``status``."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if should_retry else "false"
        with self._lock:
            for _ in range(count):
                self._injections.append(_Injection(status=status, headers=headers, path=path))

    def slow_next(self, count: int = 1, seconds: float = 1.0, *, path: str | None = None) -> None:
        """Delay the next ``count`` requests by ``seconds`` before answering normally."""
        with self._lock:
            for _ in range(count):
                self._injections.append(_Injection(delay=seconds, path=path))

    def clear_failures(self) -> None:
        """Drop every pending injection."""
        with self._lock:
            self._injections.clear()

    def _take_injection(self, path: str) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.path is None or injection.path == path:
                    self._injections.remove(injection)
                    return injection
        return None

    # -- what was received ----------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, optionally filtered by method and path."""
        with self._lock:
            return [
                request
                for request in self.requests
                if (method is None or request.method == method)
                and (path is None or request.path == path)
            ]

    def call_count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests matched."""
        return len(self.calls(method, path))

    @property
    def session_creates(self) -> list[RecordedRequest]:
        """Every ``POST /v1/checkout/sessions`` received (failed ones included)."""
        return self.calls("POST", "/v1/checkout/sessions")

    @property
    def open_connections(self) -> int:
        """TCP connections clients currently hold open to the fake (keep-alive included)."""
        with self._lock:
            return self._open_connections

    def session(self, session_id: str) -> dict[str, Any]:
        """A copy of a stored checkout session object."""
        with self._lock:
            return copy.deepcopy(self.sessions[session_id])

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Change a stored session as Stripe would (``payment_status="paid"``, ``status=...``)."""
        with self._lock:
            self.sessions[session_id].update(fields)

    # -- the API --------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one request: (status, JSON body, extra headers)."""
        injection = self._take_injection(request.path)
        if injection is not None and injection.status is not None:
            # A failure in front of the API (nothing executes, nothing is saved).
            request.injected = f"status:{injection.status}"
            if injection.delay:
                time.sleep(injection.delay)
            return injection.status, _injected_error(injection.status), injection.headers
        delay = injection.delay if injection is not None else 0.0
        if delay:
            request.injected = f"slow:{delay}"
        key = request.bearer
        if key is None:
            return (
                401,
                stripe_error(
                    "invalid_request_error",
                    "You did not provide an API key. Provide it in the Authorization header "
                    "as a Bearer token.",
                ),
                {},
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return (
                401,
                stripe_error("invalid_request_error", f"Invalid API Key provided: {_mask(key)}"),
                {},
            )
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            return self._create_session(request, delay)
        time.sleep(delay)
        match = re.fullmatch(r"/v1/checkout/sessions/([A-Za-z0-9_]+)", request.path)
        if request.method == "GET" and match:
            with self._lock:
                found = self.sessions.get(match.group(1))
            if found is None:
                return (
                    404,
                    stripe_error(
                        "invalid_request_error",
                        f"No such checkout.session: '{match.group(1)}'",
                        code="resource_missing",
                        param="session",
                    ),
                    {},
                )
            return 200, copy.deepcopy(found), {}
        return (
            404,
            stripe_error(
                "invalid_request_error",
                f"Unrecognized request URL ({request.method}: {request.path}).",
            ),
            {},
        )

    def _create_session(
        self, request: RecordedRequest, delay: float
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        key = request.idempotency_key
        slot = (self.api_key, key or "")
        fingerprint = hashlib.sha256(request.body).hexdigest()
        with self._lock:
            if key is not None and slot in self._idempotent:
                stored_fingerprint, status, body = self._idempotent[slot]
                if stored_fingerprint != fingerprint:
                    return (
                        400,
                        stripe_error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        ),
                        {},
                    )
                return status, copy.deepcopy(body), {"Idempotent-Replayed": "true"}
            if key is not None and slot in self._in_flight:
                return (
                    409,
                    stripe_error(
                        "invalid_request_error",
                        "Another request with this idempotency key is still in progress; "
                        "retry later.",
                        code="idempotency_key_in_use",
                    ),
                    {},
                )
            if key is not None:
                self._in_flight.add(slot)
        try:
            time.sleep(delay)
            status, body = self._new_session(request.params)
            with self._lock:
                if status == 200:
                    self.sessions[body["id"]] = copy.deepcopy(body)
                    if key is not None:
                        # Stripe saves the result of an executed request under its key
                        # (a request refused by validation is not saved).
                        self._idempotent[slot] = (fingerprint, status, copy.deepcopy(body))
        finally:
            with self._lock:
                self._in_flight.discard(slot)
        return status, body, {}

    def _new_session(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for name in params:
            if name not in _SESSION_PARAMS:
                return 400, stripe_error(
                    "invalid_request_error",
                    f"Received unknown parameter: {name}",
                    code="parameter_unknown",
                    param=name,
                )
        mode = params.get("mode")
        if mode is None:
            return 400, _missing("mode")
        if mode not in ("payment", "setup", "subscription"):
            return 400, stripe_error(
                "invalid_request_error",
                f"Invalid mode: must be one of payment, setup, or subscription (got {mode}).",
                code="parameter_invalid_string",
                param="mode",
            )
        metadata = params.get("metadata", {})
        if not isinstance(metadata, dict):
            return 400, _invalid("metadata", "Invalid object")
        if len(metadata) > 50:
            return 400, _invalid("metadata", "Metadata can have at most 50 keys.")
        for meta_key, meta_value in metadata.items():
            if len(meta_key) > 40 or not isinstance(meta_value, str) or len(meta_value) > 500:
                return 400, _invalid(f"metadata[{meta_key}]", "Invalid metadata entry.")
        reference = params.get("client_reference_id")
        if reference is not None and (not reference or len(reference) > 200):
            return 400, _invalid("client_reference_id", "Invalid client_reference_id.")
        items = params.get("line_items")
        if mode == "payment" and not items:
            return 400, _missing("line_items")
        if items is not None and not isinstance(items, list):
            return 400, _invalid("line_items", "Invalid array")
        total = 0
        currency: str | None = None
        for index, item in enumerate(items or []):
            problem, amount, item_currency = _line_item(index, item)
            if problem is not None:
                return 400, problem
            total += amount
            if currency is not None and item_currency != currency:
                return 400, _invalid(
                    f"line_items[{index}][price_data][currency]", "All currencies must match."
                )
            currency = item_currency
        if mode == "payment" and currency is not None:
            minimum = MINIMUM_AMOUNT.get(currency, 50)
            if total < minimum:
                return 400, stripe_error(
                    "invalid_request_error",
                    f"The Checkout Session's total amount due must add up to at least "
                    f"{minimum} in the smallest {currency} unit.",
                    code="amount_too_small",
                )
        now = int(time.time())
        session_id = f"cs_test_{_random(58)}"
        return 200, {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": reference,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": metadata,
            "mode": mode,
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "ui_mode": params.get("ui_mode", "hosted"),
            "url": f"{CHECKOUT_HOST}{session_id}",
        }


def _line_item(index: int, item: Any) -> tuple[dict[str, Any] | None, int, str | None]:
    prefix = f"line_items[{index}]"
    if not isinstance(item, dict):
        return _invalid(prefix, "Invalid object"), 0, None
    quantity = item.get("quantity")
    if quantity is None:
        return _missing(f"{prefix}[quantity]"), 0, None
    if not str(quantity).isdigit() or int(quantity) < 1:
        return _invalid(f"{prefix}[quantity]", "Invalid integer"), 0, None
    price_data = item.get("price_data")
    if price_data is None:
        return _missing(f"{prefix}[price_data]"), 0, None
    if not isinstance(price_data, dict):
        return _invalid(f"{prefix}[price_data]", "Invalid object"), 0, None
    currency = price_data.get("currency")
    if currency is None:
        return _missing(f"{prefix}[price_data][currency]"), 0, None
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        return _invalid(f"{prefix}[price_data][currency]", "Invalid currency"), 0, None
    unit_amount = price_data.get("unit_amount")
    if unit_amount is None:
        return _missing(f"{prefix}[price_data][unit_amount]"), 0, None
    if not unit_amount.isdigit():
        return _invalid(f"{prefix}[price_data][unit_amount]", "Invalid integer"), 0, None
    product = price_data.get("product_data")
    if price_data.get("product") is None and not (
        isinstance(product, dict) and product.get("name")
    ):
        return _missing(f"{prefix}[price_data][product_data][name]"), 0, None
    return None, int(unit_amount) * int(quantity), currency.lower()


def _missing(param: str) -> dict[str, Any]:
    return stripe_error(
        "invalid_request_error",
        f"Missing required param: {param}.",
        code="parameter_missing",
        param=param,
    )


def _invalid(param: str, message: str) -> dict[str, Any]:
    return stripe_error("invalid_request_error", message, code="parameter_invalid", param=param)


def _mask(key: str) -> str:
    return f"{key[:8]}{'*' * 12}{key[-4:]}" if len(key) > 12 else "****"


def _injected_error(status: int) -> dict[str, Any]:
    if status == 429:
        return stripe_error(
            "invalid_request_error",
            "Too many requests hit the API too quickly.",
            code="rate_limit",
        )
    if status == 401:
        return stripe_error("invalid_request_error", "Invalid API Key provided: sk_test_****")
    if status == 402:
        return stripe_error("card_error", "Your card was declined.", code="card_declined")
    if status >= 500:
        return stripe_error("api_error", "Something went wrong on Stripe's end.")
    return stripe_error("invalid_request_error", f"Injected failure ({status}).")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stripe: FakeStripe

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def setup(self) -> None:
        super().setup()
        with self.stripe._lock:
            self.stripe._open_connections += 1
            self.stripe.connections_accepted += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.stripe._lock:
                self.stripe._open_connections -= 1

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``FakeStripe.requests`` instead."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        raw = body.decode("utf-8", errors="replace") if self.command != "GET" else split.query
        pairs = parse_qsl(raw, keep_blank_values=True)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            headers=headers,
            body=body,
            form_pairs=pairs,
            params={},
        )
        with self.stripe._lock:
            self.stripe.requests.append(request)
        try:
            request.params = parse_form(pairs)
        except StripeFormError as exc:
            status, payload, extra = 400, stripe_error("invalid_request_error", str(exc)), {}
        else:
            status, payload, extra = self.stripe.handle(request)
        request.status = status
        encoded = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.send_header("Request-Id", f"req_{_random(14)}")
        self.send_header("Stripe-Version", headers.get("stripe-version", API_VERSION))
        if request.idempotency_key is not None:
            self.send_header("Idempotency-Key", request.idempotency_key)
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(encoded)


# --- webhook events -------------------------------------------------------------------------


def sign_payload(secret: str, payload: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` keyed with ``secret``."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_event(
    secret: str, event: dict[str, Any], timestamp: int | None = None
) -> tuple[bytes, str]:
    """``(payload bytes, Stripe-Signature header value)`` for one delivery of ``event``."""
    payload = json.dumps(event, separators=(",", ": "), indent=2).encode()
    when = int(time.time()) if timestamp is None else int(timestamp)
    return payload, f"t={when},v1={sign_payload(secret, payload, when)}"


_SESSION_STATUS = {
    "checkout.session.completed": "complete",
    "checkout.session.async_payment_succeeded": "complete",
    "checkout.session.async_payment_failed": "complete",
    "checkout.session.expired": "expired",
}


def checkout_event(
    event_type: str,
    session_id: str,
    payment_status: str,
    event_id: str | None = None,
    *,
    session: dict[str, Any] | None = None,
    created: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A Stripe ``event`` whose ``data.object`` is the ``checkout.session`` ``session_id``.

    ``session`` (e.g. ``FakeStripe.session(id)``) supplies the object's other
    fields; ``overrides`` replace fields of the object.
    """
    now = int(time.time()) if created is None else created
    obj: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "amount_total": None,
        "client_reference_id": None,
        "currency": None,
        "livemode": False,
        "metadata": {},
        "mode": "payment",
        "url": None,
    }
    if session is not None:
        obj.update(copy.deepcopy(session))
    obj["id"] = session_id
    obj["payment_status"] = payment_status
    obj["status"] = _SESSION_STATUS.get(event_type, obj.get("status", "open"))
    if obj["status"] != "open":
        obj["url"] = None
    if payment_status == "paid" and not obj.get("payment_intent"):
        obj["payment_intent"] = f"pi_{_random(24)}"
    obj.update(overrides)
    return {
        "id": event_id or f"evt_{_random(24)}",
        "object": "event",
        "api_version": API_VERSION,
        "created": now,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
