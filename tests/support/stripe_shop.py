"""A shop: the app (in-process or a real server) with the fake Stripe behind it.

``Shop`` drives the purchase API as an agent would (quote, buy, status, webhook
deliveries signed exactly as Stripe signs them) and reads the rows behind it;
every test that uses one ends with ``assert_no_secrets_leaked`` over every
response body it recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, text

from image_skill.contract.envelope import EXIT_CODE_HEADER
from tests.fakes.stripe_api import FakeStripe, checkout_event, signed_event
from tests.support.agents import Agent
from tests.support.envelopes import assert_envelope, ok

SECRET_KEY = "sk_test_51ImageSkillFakeKeyAbCdEfGhIjKlMnOpQrStUv"
WEBHOOK_SECRET = "whsec_test_ImageSkillEndpointSecret0123456789abcdef"
PACK = "starter-500"
PACK_CREDITS = 500
WEBHOOK = "/v1/webhooks/stripe"
BUY = "/v1/credit-purchases/stripe-checkout-sessions"


@dataclass
class Shop:
    """One app (in-process or a real server) with the fake Stripe behind it."""

    http: httpx.Client
    fake: FakeStripe
    db: Engine
    response_bodies: list[str] = field(default_factory=list)
    payer_marker: str = "payer-7f3a91c2@example.com"
    payloads: list[bytes] = field(default_factory=list)

    # requests ---------------------------------------------------------------------------

    def signup(self, name: str = "buyer") -> Agent:
        response = self.http.post(
            "/v1/agent-signups",
            json={
                "human_email": f"{name}@example.com",
                "agent_name": name,
                "runtime": "pytest",
                "return_token": True,
            },
        )
        data = ok(response)
        actor = data["actor"]
        return Agent(self.http, data["token"], actor["actor_id"], actor["organization_id"])

    def quote_response(
        self, agent: Agent, key: str, *, method: str = "stripe_checkout", **body: Any
    ) -> httpx.Response:
        body = {"pack_id": PACK, **body} if "credits" not in body else body
        return self.http.post(
            "/v1/credit-quotes",
            json={**body, "payment_method": method, "idempotency_key": key},
            headers=agent.headers,
        )

    def quote(self, agent: Agent, key: str, **kwargs: Any) -> dict[str, Any]:
        return ok(self.quote_response(agent, key, **kwargs))

    def buy(self, agent: Agent, quote_id: str, key: str | None) -> httpx.Response:
        body: dict[str, Any] = {"quote_id": quote_id}
        if key is not None:
            body["idempotency_key"] = key
        return self.http.post(BUY, json=body, headers=agent.headers)

    def bought(self, agent: Agent, key: str) -> dict[str, Any]:
        """A fresh stripe_checkout quote and its checkout session."""
        quote = self.quote(agent, f"quote-{key}")
        return ok(self.buy(agent, quote["quote_id"], f"buy-{key}"))

    def status(self, agent: Agent, **reference: str) -> dict[str, Any]:
        return ok(
            self.http.get("/v1/credit-purchases/status", params=reference, headers=agent.headers),
            200,
        )

    def balance(self, agent: Agent) -> int:
        data = ok(self.http.get("/v1/quota", headers=agent.headers), 200)
        return int(data["credits"]["balance"])

    def claim_state(self, agent: Agent) -> str:
        return str(ok(self.http.get("/v1/whoami", headers=agent.headers), 200)["claim_state"])

    def event(
        self, event_type: str, session_id: str, payment_status: str, event_id: str | None = None
    ) -> dict[str, Any]:
        """A Stripe event about a session the fake created (its real fields)."""
        return checkout_event(
            event_type,
            session_id,
            payment_status,
            event_id,
            session=self.fake.session(session_id),
            customer_details={"email": self.payer_marker, "name": "Payer Marker"},
        )

    def sign(
        self,
        event: dict[str, Any],
        *,
        secret: str = WEBHOOK_SECRET,
        timestamp: int | None = None,
    ) -> tuple[bytes, str]:
        payload, header = signed_event(secret, event, timestamp)
        self.payloads.append(payload)
        return payload, header

    def post_webhook(self, payload: bytes, signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return self.http.post(WEBHOOK, content=payload, headers=headers)

    def deliver(self, event: dict[str, Any], **sign: Any) -> dict[str, Any]:
        """Sign and post ``event``; the webhook's success data."""
        return ok(self.post_webhook(*self.sign(event, **sign)), 200)

    # the database behind the API ----------------------------------------------------------

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.db.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def count(self, table: str, where: str = "1 = 1", **params: Any) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table} WHERE {where}", **params))

    def activity(self, agent: Agent, event_type: str) -> int:
        return self.count(
            "activity_events",
            "organization_id = :org AND type = :type",
            org=agent.organization_id,
            type=event_type,
        )

    def purchase_grants(self, quote_id: str) -> int:
        return self.count(
            "credit_ledger_entries",
            "kind = 'purchase_grant' AND idempotency_scope = :scope",
            scope=f"purchase:{quote_id}",
        )

    def receipts(self, quote_id: str) -> int:
        return self.count("receipts", "quote_id = :q", q=quote_id)

    def attempts(self, quote_id: str) -> int:
        return self.count("payment_attempts", "quote_id = :q", q=quote_id)

    def provider_events(self) -> int:
        return self.count("provider_events")

    def attempt_status(self, attempt_id: str) -> str:
        return str(self.scalar("SELECT status FROM payment_attempts WHERE id = :id", id=attempt_id))

    # the invariant every test ends with --------------------------------------------------

    def assert_no_secrets_leaked(self) -> None:
        assert self.response_bodies, "no response bodies were recorded"
        forbidden = [SECRET_KEY, WEBHOOK_SECRET, self.payer_marker, "whsec_", "sk_test_"]
        for body in self.response_bodies:
            for secret in forbidden:
                assert secret not in body, f"{secret[:10]}... leaked in a response: {body[:300]}"
            for payload in self.payloads:
                assert payload.decode() not in body, "a raw webhook payload was echoed"


def error(response: httpx.Response, code: str, http_status: int, exit_code: int) -> dict[str, Any]:
    """The error object of an error envelope with ``code``, ``http_status`` and ``exit_code``."""
    assert response.status_code == http_status, response.text
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=False)
    assert envelope["error"]["code"] == code, envelope["error"]
    assert response.headers[EXIT_CODE_HEADER] == str(exit_code)
    failure: dict[str, Any] = envelope["error"]
    return failure


def recorder(bodies: list[str]) -> Callable[[httpx.Response], None]:
    """A response hook that appends every response body to ``bodies``."""

    def record(response: httpx.Response) -> None:
        response.read()
        bodies.append(response.text)

    return record
