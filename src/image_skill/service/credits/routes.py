"""Credits routes: packs, quotes, purchases (fake and Stripe), status, Stripe webhook."""

from __future__ import annotations

import json
from dataclasses import replace

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from image_skill.service.credits.packs import catalog
from image_skill.service.credits.payment_guard import refuse_payment_credentials
from image_skill.service.credits.rails.fake import fake_purchase
from image_skill.service.credits.rails.stripe_api import verify_event
from image_skill.service.credits.rails.stripe_checkout import buy_with_stripe, handle_stripe_event
from image_skill.service.credits.schemas import (
    CheckoutStarted,
    FakePurchase,
    PackCatalog,
    PurchaseRequest,
    PurchaseStatus,
    QuoteRequest,
    QuoteView,
    WebhookReceipt,
    quote_view,
)
from image_skill.service.credits.service import create_quote, purchase_status
from image_skill.service.deps import AppSettings, CurrentPrincipal, Session
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import OptionalIdQuery, OptionalReferenceQuery
from image_skill.service.openapi_errors import error_responses
from image_skill.service.outcome import Outcome
from image_skill.service.responses import envelope_response, outcome_response, trace_id_of

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404, 409))


async def no_payment_credentials(request: Request) -> None:
    """Refuse card data or secrets anywhere in the JSON body, before anything else."""
    raw = await request.body()
    if not raw:
        return
    try:
        body = json.loads(raw)
    except ValueError:
        return
    refuse_payment_credentials(body)


Guarded = Depends(no_payment_credentials)


@router.get("/v1/credit-packs", name="image-skill credits packs list", **answers(PackCatalog))
async def credit_packs(request: Request) -> JSONResponse:
    """The pack catalog (public)."""
    return envelope_response(request, catalog())


@router.post(
    "/v1/credit-quotes",
    name="image-skill credits quote",
    dependencies=[Guarded],
    **answers(QuoteView, status=201),
)
async def credit_quote(
    body: QuoteRequest,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    settings: AppSettings,
) -> JSONResponse:
    """Bounded terms for buying credits; grants nothing."""
    outcome = await create_quote(
        session,
        settings,
        principal,
        credits=body.credits,
        pack_id=body.pack_id,
        payment_method=body.payment_method,
        idempotency_key=body.idempotency_key,
    )
    view = Outcome(quote_view(outcome.data), outcome.warnings, outcome.status_code)
    return outcome_response(request, view)


@router.post(
    "/v1/credit-purchases",
    name="image-skill credits fake-purchase",
    dependencies=[Guarded],
    **answers(FakePurchase, status=201),
)
async def credit_fake_purchase(
    body: PurchaseRequest,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    settings: AppSettings,
) -> JSONResponse:
    """Settle a fake quote (no money moves)."""
    outcome = await fake_purchase(
        session,
        settings,
        principal,
        quote_id=body.quote_id,
        idempotency_key=body.idempotency_key,
        trace_id=trace_id_of(request),
    )
    if outcome.data.get("claim_state"):
        # The grant may have moved the agent to payment_backed_unclaimed.
        request.state.principal = replace(principal, claim_state=outcome.data["claim_state"])
    return outcome_response(request, outcome)


@router.post(
    "/v1/credit-purchases/stripe-checkout-sessions",
    name="image-skill credits buy",
    dependencies=[Guarded],
    **answers(CheckoutStarted, status=201),
)
async def credit_buy(
    body: PurchaseRequest,
    request: Request,
    principal: CurrentPrincipal,
    settings: AppSettings,
) -> JSONResponse:
    """Create the Stripe Checkout Session of a quote."""
    outcome = await buy_with_stripe(
        request.app.state.engine,
        settings,
        principal,
        quote_id=body.quote_id,
        idempotency_key=body.idempotency_key,
        trace_id=trace_id_of(request),
    )
    return outcome_response(request, outcome)


@router.get(
    "/v1/credit-purchases/status", name="image-skill credits status", **answers(PurchaseStatus)
)
async def credit_status(
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    settings: AppSettings,
    quote_id: OptionalIdQuery = None,
    payment_attempt_id: OptionalIdQuery = None,
    checkout_session_id: OptionalReferenceQuery = None,
    receipt_id: OptionalIdQuery = None,
) -> JSONResponse:
    """Where a purchase stands."""
    refs = {
        "quote_id": quote_id,
        "payment_attempt_id": payment_attempt_id,
        "checkout_session_id": checkout_session_id,
        "receipt_id": receipt_id,
    }
    return envelope_response(request, await purchase_status(session, settings, principal, refs))


@router.post("/v1/webhooks/stripe", name="image-skill webhooks stripe", **answers(WebhookReceipt))
async def stripe_webhook(request: Request, settings: AppSettings) -> JSONResponse:
    """Verify the signature on the raw body, then record and fulfill once."""
    payload = await request.body()
    event = verify_event(settings, payload, request.headers.get("stripe-signature"))
    return envelope_response(
        request, await handle_stripe_event(request.app.state.engine, settings, event)
    )
