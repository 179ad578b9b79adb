"""``credits``: packs, quotes, Stripe Checkout, purchase status and the fake rail.

Flag combinations are checked here before anything is sent; amounts, pack ids,
expiry and idempotency are the service's rules. There is deliberately no flag
for card numbers or any other payment credential: card details are typed only
into the Stripe-hosted checkout page.
"""

from __future__ import annotations

import re
import uuid
from argparse import Namespace
from typing import Any

from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS, render_human
from image_skill.cli.parser import Registrar
from image_skill.cli.values import optional_text
from image_skill.contract.errors import ErrorCode, ImageSkillError, flag_required
from image_skill.result import Result

PAYMENT_METHODS = ("fake", "stripe_checkout")
PROVIDERS = ("stripe",)
STATUS_REFS = (
    ("quote_id", "--quote-id"),
    ("payment_attempt_id", "--payment-attempt-id"),
    ("checkout_session_id", "--checkout-session-id"),
    ("receipt_id", "--receipt-id"),
)


def register(reg: Registrar) -> None:
    """Add the credits commands."""
    reg.group("credits", "Credit packs, quotes and purchases.")
    reg.listed_group(
        "credits packs", "Credit packs.", run_packs_list, "List the credit packs (no token needed)."
    )

    quote = reg.command(
        "credits quote", run_quote, "Request a bounded, expiring credit quote (grants nothing)."
    )
    quote.add_argument(
        "--credits", metavar="N", help="an exact number of credits (1 credit = $0.01)"
    )
    quote.add_argument("--pack", metavar="PACK_ID", help="a named pack, e.g. starter-500")
    quote.add_argument(
        "--payment-method",
        metavar="METHOD",
        help="stripe_checkout or fake (test rail, no money); default: the rail this "
        "service has configured (Stripe when it is, else the fake rail)",
    )
    quote.add_argument(
        "--idempotency-key", metavar="KEY", help="retry-safe key (generated when omitted)"
    )

    buy = reg.command(
        "credits buy", run_buy, "Open a Stripe Checkout session for a stripe_checkout quote."
    )
    buy.add_argument("--provider", metavar="PROVIDER", help="payment provider: stripe")
    buy.add_argument("--quote-id", metavar="QUOTE_ID", help="a stripe_checkout quote")
    buy.add_argument("--idempotency-key", metavar="KEY", help="required retry-safe key")

    status = reg.command(
        "credits status", run_status, "Show where a quote, payment attempt or receipt stands."
    )
    for _field, flag in STATUS_REFS:
        status.add_argument(flag, metavar=flag.lstrip("-").replace("-", "_").upper())

    fake = reg.command(
        "credits fake-purchase",
        run_fake_purchase,
        "Settle a fake/test quote: grants credits, moves no money.",
    )
    fake.add_argument("--quote-id", metavar="QUOTE_ID", help="a fake quote")
    fake.add_argument("--idempotency-key", metavar="KEY", help="required retry-safe key")

    HUMAN_RENDERERS["image-skill credits packs list"] = render_packs
    HUMAN_RENDERERS["image-skill credits quote"] = render_quote
    HUMAN_RENDERERS["image-skill credits buy"] = render_buy
    HUMAN_RENDERERS["image-skill credits status"] = render_status
    HUMAN_RENDERERS["image-skill credits fake-purchase"] = render_fake_purchase


# -- argument checks ------------------------------------------------------------


def _required(value: str | None, flag: str, why: str = "") -> str:
    text = optional_text(value)
    if text is None:
        raise flag_required(f"{flag} is required{why}.", flag)
    return text


def _credits(value: str | None) -> int | None:
    if value is None:
        return None
    text = optional_text(value)
    if text is None or not re.fullmatch(r"-?[0-9]{1,9}", text):
        raise flag_required("--credits must be a whole number of credits, e.g. 500.", "--credits")
    return int(text)


# -- handlers -------------------------------------------------------------------


def run_packs_list(context: Context, _args: Namespace) -> Result:
    """The public pack catalog."""
    return context.client().credit_packs()


def run_quote(context: Context, args: Namespace) -> Result:
    """``POST /v1/credit-quotes`` with exactly one of ``--credits`` / ``--pack``."""
    credits = _credits(args.credits)
    pack = optional_text(args.pack) if args.pack is not None else None
    if args.pack is not None and pack is None:
        raise flag_required("--pack must name a pack, e.g. starter-500.", "--pack")
    if (credits is None) == (pack is None):
        raise flag_required(
            "Give exactly one of --credits N or --pack PACK_ID.",
            "--pack",
            suggested_command="image-skill credits packs list --json",
        )
    method = optional_text(args.payment_method) if args.payment_method is not None else None
    if args.payment_method is not None and method not in PAYMENT_METHODS:
        raise flag_required(
            f"--payment-method must be one of {', '.join(PAYMENT_METHODS)}.", "--payment-method"
        )
    key = optional_text(args.idempotency_key)
    if key is None:
        key = f"quote-{uuid.uuid4().hex}"
        context.warnings.append(
            f"No --idempotency-key was given, so {key} was generated; pass your own "
            "--idempotency-key to make retries return the same quote."
        )
    return context.client().credit_quote(
        credits=credits, pack_id=pack, payment_method=method, idempotency_key=key
    )


def run_buy(context: Context, args: Namespace) -> Result:
    """``POST /v1/credit-purchases/stripe-checkout-sessions``; never touches card data."""
    provider = _required(args.provider, "--provider", " (stripe)")
    if provider.lower() not in PROVIDERS:
        raise flag_required(
            "--provider must be stripe (the only live payment provider).", "--provider"
        )
    quote_id = _required(args.quote_id, "--quote-id")
    key = _required(args.idempotency_key, "--idempotency-key", ": buying starts a live payment")
    return context.client().credit_buy(quote_id, key)


def run_status(context: Context, args: Namespace) -> Result:
    """``GET /v1/credit-purchases/status`` by exactly one reference."""
    given = {
        field: value
        for field, flag in STATUS_REFS
        if (value := optional_text(getattr(args, field))) is not None
    }
    if len(given) != 1:
        flags = ", ".join(flag for _field, flag in STATUS_REFS)
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            f"Give exactly one of {flags}" + (f"; {len(given)} were given." if given else "."),
            recovery=None if given else {"required_flag": "--quote-id"},
            details={"field": "--quote-id"},
        )
    return context.client().credit_status(**given)


def run_fake_purchase(context: Context, args: Namespace) -> Result:
    """``POST /v1/credit-purchases``: the fake/test settlement rail."""
    quote_id = _required(args.quote_id, "--quote-id")
    key = _required(
        args.idempotency_key, "--idempotency-key", ": the purchase changes your credit balance"
    )
    return context.client().credit_fake_purchase(quote_id, key)


# -- human output ---------------------------------------------------------------


def _usd(cents: Any) -> str:
    return f"${int(cents) / 100:.2f}" if isinstance(cents, int) else "?"


def render_packs(data: Any) -> str:
    """One line per pack, then the custom-quote bounds."""
    if not isinstance(data, dict) or not isinstance(data.get("packs"), list):
        return render_human(data)
    default = data.get("default_pack_id")
    lines = []
    for pack in data["packs"]:
        if not isinstance(pack, dict):
            continue
        mark = "  (default)" if pack.get("pack_id") == default else ""
        lines.append(
            f"{pack.get('pack_id'):<14} {pack.get('credits'):>6} credits  "
            f"{_usd(pack.get('amount_cents'))} {pack.get('currency', '')}{mark}"
        )
    custom = data.get("custom_quotes") or {}
    if custom.get("supported"):
        lines.append(
            f"custom quotes: {custom.get('min_credits')}-{custom.get('max_credits')} credits"
            f" (1 credit = ${data.get('credit_unit_usd')})"
        )
    lines.append("next: image-skill credits quote --pack PACK_ID (the service picks its rail)")
    return "\n".join(lines)


def render_quote(data: Any) -> str:
    """Id, amount, price, expiry and the command that pays it."""
    if not isinstance(data, dict) or "quote_id" not in data:
        return render_human(data)
    method = data.get("accepted_payment_method")
    money = "live money" if data.get("live_money") else "no live money"
    pack = f", pack {data['pack_id']}" if data.get("pack_id") else ""
    quote_id = data.get("quote_id")
    if method == "stripe_checkout":
        pay = (
            f"image-skill credits buy --provider stripe --quote-id {quote_id} --idempotency-key KEY"
        )
    else:
        pay = f"image-skill credits fake-purchase --quote-id {quote_id} --idempotency-key KEY"
    return "\n".join(
        [
            f"quote:   {quote_id} ({data.get('state')})",
            f"credits: {data.get('credits')}{pack}",
            f"price:   {_usd(data.get('price_amount_cents'))} {data.get('currency')} "
            f"via {method} ({money})",
            f"expires: {data.get('expires_at')}",
            f"next:    {pay}",
        ]
    )


def render_buy(data: Any) -> str:
    """The checkout URL and what happens after paying."""
    if not isinstance(data, dict) or "checkout_url" not in data:
        return render_human(data)
    return "\n".join(
        [
            f"checkout: {data.get('checkout_url')}",
            f"state:    {data.get('state')} ({data.get('credits')} credits, "
            f"{_usd(data.get('amount_cents'))} {data.get('currency')})",
            "next:     open the checkout URL in a browser and pay on the Stripe page; credits "
            "arrive after Stripe confirms the payment.",
            f"then:     image-skill credits status --payment-attempt-id "
            f"{data.get('payment_attempt_id')}",
        ]
    )


def render_status(data: Any) -> str:
    """The state, the receipt (if any) and what to do next."""
    if not isinstance(data, dict) or "state" not in data:
        return render_human(data)
    quote = data.get("quote") or {}
    lines = [
        f"state:   {data.get('state')}",
        f"quote:   {quote.get('quote_id')} ({quote.get('credits')} credits, "
        f"{quote.get('accepted_payment_method')})",
    ]
    receipt = data.get("receipt")
    if isinstance(receipt, dict):
        lines.append(f"receipt: {receipt.get('receipt_id')}")
    balance = ((data.get("limits") or {}).get("credits") or {}).get("balance")
    if balance is not None:
        lines.append(f"balance: {balance} credits")
    nxt = data.get("next")
    if isinstance(nxt, dict):
        if nxt.get("checkout_url"):
            lines.append(f"next:    open {nxt['checkout_url']}")
        elif nxt.get("suggested_command"):
            lines.append(f"next:    {nxt['suggested_command']}")
        if nxt.get("retry_after_seconds") is not None:
            lines.append(f"retry:   check again in {nxt['retry_after_seconds']} s")
    return "\n".join(lines)


def render_fake_purchase(data: Any) -> str:
    """Receipt, credits granted and the new balance."""
    if not isinstance(data, dict) or "receipt_id" not in data:
        return render_human(data)
    return "\n".join(
        [
            f"receipt: {data.get('receipt_id')} ({data.get('state')}, fake rail, no live money)",
            f"granted: {data.get('credits_granted')} credits",
            f"balance: {data.get('balance_after')} credits",
        ]
    )
