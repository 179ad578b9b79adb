"""credits packs, quote, buy, status and fake-purchase through the real CLI.

Against ``image-skill serve`` (SQLite and PostgreSQL; one server loads the
counting provider plugin and a short quote lifetime) and in embedded mode.
Payment credentials are thrown at the HTTP API directly, since the CLI has no
flag that could carry them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from image_skill.service.db.models import CreditQuote
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import CliAgent, cli_sign_up
from tests.support.cli import CliRun, RunCli, checked, expect
from tests.support.databases import PG_URL_ENV, create_pg_database, postgres_admin_url
from tests.support.plugins import plugin_env
from tests.support.servers import Server, free_port, http_call, running_server

PACKS = [("starter-500", 500), ("builder-2000", 2000), ("studio-5000", 5000)]
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GENERATED_KEY_RE = re.compile(r"^quote-[0-9a-f]{32}$")
FREE_PREVIEW = 10
COUNTING_CREDITS = 8  # test.counting: $0.04 per image x markup 2 = 8 credits


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


@dataclass
class Shared:
    """One server per database kind for the whole module (each test signs up its own agents)."""

    server: Server
    database_url: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """``image-skill serve`` with the counting test provider and a 60 s quote lifetime."""
    workdir = tmp_path_factory.mktemp(f"credits-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'test.db'}"
    else:
        admin = postgres_admin_url()
        if admin is None:
            pytest.skip(f"PostgreSQL not configured ({PG_URL_ENV}); CI always runs it")
        database_url = create_pg_database(admin)
    env = plugin_env(workdir / "calls.log", quote_ttl_seconds=60)
    env.update({"IMAGE_SKILL_TELEMETRY": "off", "IMAGE_SKILL_ENVIRONMENT": "test"})
    env["IMAGE_SKILL_FAKE_PAYMENTS_ENABLED"] = "true"  # off by default; these tests use it
    with running_server(database_url, workdir, extra_env=env) as server:
        yield Shared(server, database_url)


@pytest.fixture
def server(shared: Shared) -> Server:
    return shared.server


def new_agent(run: RunCli, server: Server, name: str) -> CliAgent:
    """A fresh unclaimed agent on ``server`` (names are unique per test)."""
    return cli_sign_up(run, server.base_url, email=f"{name}@example.com", name=name, save=False)


def nowhere() -> str:
    """A loopback URL nothing listens on: a command that answers did not call it."""
    return f"http://127.0.0.1:{free_port()}"


Acting = Callable[..., CliRun]


def acting(run: RunCli, server: Server, agent: CliAgent | None = None) -> Acting:
    """``run`` against ``server`` as ``agent`` (or as nobody), with ``--json`` unless human."""
    env = {"IMAGE_SKILL_API_BASE_URL": server.base_url}
    if agent is not None:
        env["IMAGE_SKILL_TOKEN"] = agent.token

    def call(*argv: str, human: bool = False) -> CliRun:
        return run(*argv, *([] if human else ["--json"]), env=env)

    return call


def ok(result: CliRun) -> dict[str, Any]:
    """The data of a successful command."""
    data: dict[str, Any] = expect(result, 0)["data"]
    return data


def balance(as_: Acting) -> int:
    return int(ok(as_("usage", "quota"))["credits"]["balance"])


def api(
    server: Server, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], str]:
    """A raw HTTP call: ``(status, lower-cased headers, body text)``."""
    status, headers, raw = http_call(server, method, path, body, token, timeout=20)
    return status, headers, raw.decode()


# -- packs ------------------------------------------------------------------------------


def assert_catalog(data: dict[str, Any]) -> None:
    assert data["credit_unit_cents"] == 1 and data["credit_unit_usd"] == 0.01
    assert data["currency"] == "USD" and data["default_pack_id"] == "starter-500"
    assert [(p["pack_id"], p["credits"]) for p in data["packs"]] == PACKS
    for pack in data["packs"]:
        assert pack["amount_cents"] == pack["credits"] and pack["currency"] == "USD"
        assert pack["name"]
    custom = data["custom_quotes"]
    assert (custom["supported"], custom["min_credits"], custom["max_credits"]) == (True, 1, 5000)


def test_packs_are_public_and_credits_needs_a_subcommand(server: Server, run: RunCli) -> None:
    nobody = acting(run, server)
    listed = expect(nobody("credits", "packs", "list"), 0)
    assert listed["command"] == "image-skill credits packs list" and listed["actor"] is None
    assert_catalog(listed["data"])
    default = expect(nobody("credits", "packs"), 0)
    assert default["command"] == "image-skill credits packs list"
    assert default["data"] == listed["data"]

    human = nobody("credits", "packs", "list", human=True)
    assert human.exit_code == 0 and human.stderr == ""
    lines = human.stdout.splitlines()
    assert lines[0].startswith("starter-500") and "$5.00" in lines[0] and "default" in lines[0]
    assert "credits quote --pack" in human.stdout and not human.stdout.startswith("{")

    bare = expect(nobody("credits"), 2, "INVALID_ARGUMENTS")
    assert bare["command"] == "image-skill credits"
    assert "packs, quote, buy, status, fake-purchase" in bare["error"]["message"]


def test_embedded_packs_quote_and_fake_purchase(run: RunCli) -> None:
    assert_catalog(ok(run("credits", "packs", "list", "--json")))
    made = expect(run("credits", "quote", "--credits", "12", "--json"), 0)
    assert any("generated" in w for w in made["warnings"])
    data = made["data"]
    assert GENERATED_KEY_RE.match(data["idempotency_key"]) and data["credits"] == 12
    assert data["live_money"] is False
    bought = run(
        "credits", "fake-purchase", "--quote-id", data["quote_id"], "--idempotency-key", "e-1"
    )
    assert bought.exit_code == 0 and bought.stderr == ""
    assert re.search(r"^receipt: receipt_\S+ .*no live money", bought.stdout, re.M)
    assert re.search(r"^granted: 12 credits$", bought.stdout, re.M)


# -- quotes -----------------------------------------------------------------------------

QUOTE_SHAPES = [
    (("--credits", "10"), "fake", 10, None),
    (("--pack", "builder-2000"), "fake", 2000, "builder-2000"),
    (("--credits", "137", "--payment-method", "stripe_checkout"), "stripe_checkout", 137, None),
    (("--pack", "starter-500", "--payment-method", "stripe_checkout"), "stripe_checkout", 500,
     "starter-500"),
]  # fmt: skip


def test_quotes_by_credits_and_pack_and_their_idempotency(server: Server, run: RunCli) -> None:
    me = acting(run, server, new_agent(run, server, "quoter"))
    ids = set()
    for index, (flags, method, credits, pack_id) in enumerate(QUOTE_SHAPES):
        key = f"quote-run-{index}"
        envelope = expect(me("credits", "quote", *flags, "--idempotency-key", key), 0)
        data = envelope["data"]
        assert envelope["warnings"] == []
        assert data["quote_id"].startswith("quote_") and data["state"] == "created"
        assert (data["credits"], data["price_amount_cents"]) == (credits, credits)
        assert data["currency"] == "USD" and data["accepted_payment_method"] == method
        assert data["idempotency_key"] == key and data["pack_id"] == pack_id
        assert (data["pack"] or {}).get("pack_id") == pack_id
        if pack_id:
            assert data["pack"]["credits"] == data["pack"]["amount_cents"] == credits
        if method == "fake":
            assert data["live_money"] is False
        assert ISO_RE.match(data["expires_at"]) and data["expires_at"] > data["created_at"]
        ids.add(data["quote_id"])

        # Same key, same request: the same quote. Same key, other request: refused.
        again = expect(me("credits", "quote", *flags, "--idempotency-key", key), 0)
        assert again["data"]["quote_id"] == data["quote_id"]
        assert any("Replayed" in w for w in again["warnings"])
        other = me("credits", "quote", "--credits", "11", "--idempotency-key", key)
        expect(other, 2, "IDEMPOTENCY_KEY_REUSED")
    assert len(ids) == len(QUOTE_SHAPES)
    other_rail = me(
        "credits", "quote", "--credits", "60", "--payment-method", "stripe_checkout",
        "--idempotency-key", "quote-run-0",
    )  # fmt: skip
    expect(other_rail, 2, "IDEMPOTENCY_KEY_REUSED")  # the payment method is part of the request

    # No key: one is generated, sent and reported; a rerun makes a new quote.
    first = expect(me("credits", "quote", "--credits", "10"), 0)
    second = expect(me("credits", "quote", "--credits", "10"), 0)
    assert first["data"]["quote_id"] != second["data"]["quote_id"]
    key = first["data"]["idempotency_key"]
    assert GENERATED_KEY_RE.match(key) and key != second["data"]["idempotency_key"]
    (warning,) = first["warnings"]
    assert key in warning and "generated" in warning and "--idempotency-key" in warning

    human = me("credits", "quote", "--pack", "starter-500", "--idempotency-key", "h1", human=True)
    assert human.exit_code == 0 and human.stderr == ""
    assert re.search(r"^quote: +quote_\S+ \(created\)$", human.stdout, re.M)
    assert "$5.00" in human.stdout and "expires:" in human.stdout
    assert "credits fake-purchase --quote-id quote_" in human.stdout

    # The service's bounds: nothing outside 1..5000, no unknown pack; a token is needed.
    for flags in (("--credits", "0"), ("--credits", "5001"), ("--pack", "mega-9000")):
        refused = expect(me("credits", "quote", *flags), 2, "INVALID_ARGUMENTS")
        assert refused["error"]["details"]["field"] in ("credits", "pack_id")
    expect(acting(run, server)("credits", "quote", "--credits", "5"), 3, "AUTH_REQUIRED")


@pytest.mark.parametrize(
    ("flags", "required_flag"),
    [
        ((), "--pack"),
        (("--credits", "10", "--pack", "starter-500"), "--pack"),
        (("--credits", "ten"), "--credits"),
        (("--credits=--5",), "--credits"),
        (("--credits", "10", "--payment-method", "card"), "--payment-method"),
    ],
    ids=["neither", "both", "not-a-number", "double-minus", "bad-method"],
)
def test_quote_flags_are_checked_locally(
    run: RunCli, flags: tuple[str, ...], required_flag: str
) -> None:
    # Nothing listens at the API base: any answer but INVALID_ARGUMENTS would need it.
    result = run(
        "credits", "quote", *flags, "--api-base-url", nowhere(), "--json",
        env={"IMAGE_SKILL_TOKEN": "isk_r_unused"},
    )  # fmt: skip
    envelope = expect(result, 2, "INVALID_ARGUMENTS")
    assert envelope["error"]["recovery"]["required_flag"] == required_flag


def test_concurrent_quotes_with_one_key_are_one_quote(server: Server, run: RunCli) -> None:
    token = new_agent(run, server, "racer").token
    body = {"credits": 42, "payment_method": "fake", "idempotency_key": "race-1"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: api(server, "POST", "/v1/credit-quotes", body, token), range(8))
        )
    assert {status for status, _h, _b in answers} == {201}, answers
    assert len({json.loads(text)["data"]["quote_id"] for _s, _h, text in answers}) == 1


# -- fake purchase, status, buy ---------------------------------------------------------


def test_fake_purchase_status_and_ownership(server: Server, run: RunCli) -> None:
    me = acting(run, server, new_agent(run, server, "buyer"))
    quote_id = ok(me("credits", "quote", "--credits", "25", "--idempotency-key", "q-25"))[
        "quote_id"
    ]

    # Not yet paid: status says so and names the command that pays this very quote.
    pending = ok(me("credits", "status", "--quote-id", quote_id))
    assert pending["state"] == "quoted" and pending["receipt"] is None
    assert f"credits fake-purchase --quote-id {quote_id}" in pending["next"]["suggested_command"]

    purchase = ("credits", "fake-purchase", "--quote-id", quote_id, "--idempotency-key")
    data = ok(me(*purchase, "p-1"))
    assert data["state"] == "succeeded" and data["quote_id"] == quote_id
    assert data["receipt_id"].startswith("receipt_")
    assert data["credit_event_id"].startswith("credit_event_")
    assert (data["credits_granted"], data["amount_cents"], data["currency"]) == (25, 25, "USD")
    assert data["accepted_payment_method"] == "fake" and data["idempotency_key"] == "p-1"
    assert data["balance_after"] == FREE_PREVIEW + 25 and data["live_money"] is False
    assert expect(me("whoami"), 0)["actor"]["claim_state"] == "payment_backed_unclaimed"
    assert balance(me) == FREE_PREVIEW + 25

    # The same key replays the receipt and grants nothing more; another key is refused.
    replay = expect(me(*purchase, "p-1"), 0)
    assert replay["data"]["receipt_id"] == data["receipt_id"]
    assert replay["data"]["credit_event_id"] == data["credit_event_id"]
    assert replay["data"]["balance_after"] == FREE_PREVIEW + 25
    assert any("Replayed" in w for w in replay["warnings"])
    expect(me(*purchase, "p-2"), 1, "QUOTE_CONSUMED")

    # Status by quote and by receipt: the same succeeded purchase.
    by_quote = ok(me("credits", "status", "--quote-id", quote_id))
    by_receipt = ok(me("credits", "status", "--receipt-id", data["receipt_id"]))
    for status, kind in ((by_quote, "quote_id"), (by_receipt, "receipt_id")):
        assert status["state"] == "succeeded" and status["reference"]["type"] == kind
        assert status["quote"]["quote_id"] == quote_id and status["quote"]["state"] == "consumed"
        assert status["receipt"]["receipt_id"] == data["receipt_id"]
        assert status["receipt"]["credits"] == 25 and status["receipt"]["live_money"] is False
        assert status["credit_event"]["credit_event_id"] == data["credit_event_id"]
        assert status["credit_event"]["credits"] == 25
        assert status["limits"]["credits"]["balance"] == FREE_PREVIEW + 25
        assert status["limits"]["claim_state"] == "payment_backed_unclaimed"
        assert status["payment_attempt"] is None
    human = me("credits", "status", "--receipt-id", data["receipt_id"], human=True)
    assert human.exit_code == 0 and human.stdout.startswith("state:   succeeded\n")
    assert f"receipt: {data['receipt_id']}" in human.stdout

    # Unknown references and other agents' purchases are NOT_FOUND.
    expect(me("credits", "status", "--quote-id", "quote_nope"), 1, "NOT_FOUND")
    nope = ("credits", "fake-purchase", "--quote-id", "quote_nope", "--idempotency-key", "x")
    expect(me(*nope), 1, "NOT_FOUND")
    stranger = acting(run, server, new_agent(run, server, "stranger"))
    for flag, ref in (("--quote-id", quote_id), ("--receipt-id", data["receipt_id"])):
        expect(stranger("credits", "status", flag, ref), 1, "NOT_FOUND")
    unpaid = ok(me("credits", "quote", "--credits", "3", "--idempotency-key", "q-3"))["quote_id"]
    stolen = stranger("credits", "fake-purchase", "--quote-id", unpaid, "--idempotency-key", "s")
    expect(stolen, 1, "NOT_FOUND")

    # A stripe_checkout quote is not settled by the fake rail, and Stripe is not configured.
    stripe = ok(
        me("credits", "quote", "--pack", "starter-500", "--payment-method", "stripe_checkout",
           "--idempotency-key", "q-stripe")
    )["quote_id"]  # fmt: skip
    wrong_rail = me("credits", "fake-purchase", "--quote-id", stripe, "--idempotency-key", "p-3")
    assert expect(wrong_rail, 2, "INVALID_ARGUMENTS")["error"]["details"]["field"] == "quote_id"
    waiting = ok(me("credits", "status", "--quote-id", stripe))
    assert waiting["state"] == "quoted"
    pay = f"credits buy --provider stripe --quote-id {stripe}"
    assert pay in waiting["next"]["suggested_command"]
    buy = ("credits", "buy", "--provider", "stripe", "--quote-id", stripe, "--idempotency-key")
    expect(me(*buy, "b-1"), 4, "PAYMENT_PROVIDER_NOT_CONFIGURED")
    human_buy = me(*buy, "b-1", human=True)
    assert human_buy.exit_code == 4 and human_buy.stdout == ""
    assert "PAYMENT_PROVIDER_NOT_CONFIGURED" in human_buy.stderr
    assert balance(me) == FREE_PREVIEW + 25


@pytest.mark.parametrize(
    ("argv", "required_flag"),
    [
        (["buy", "--provider", "stripe", "--quote-id", "quote_x"], "--idempotency-key"),
        (["buy", "--quote-id", "quote_x", "--idempotency-key", "k"], "--provider"),
        (["buy", "--provider", "paypal", "--quote-id", "quote_x", "--idempotency-key", "k"],
         "--provider"),
        (["buy", "--provider", "stripe", "--idempotency-key", "k"], "--quote-id"),
        (["fake-purchase", "--quote-id", "quote_x"], "--idempotency-key"),
        (["fake-purchase", "--quote-id", "quote_x", "--idempotency-key", " "],
         "--idempotency-key"),
        (["fake-purchase", "--idempotency-key", "k"], "--quote-id"),
        (["status"], "--quote-id"),
        (["status", "--quote-id", "quote_x", "--receipt-id", "receipt_x"], None),
        (["status", "--payment-attempt-id", "payatt_x", "--checkout-session-id", "cs_x"], None),
    ],
    ids=repr,
)  # fmt: skip
def test_purchase_flags_are_checked_locally(
    run: RunCli, argv: list[str], required_flag: str | None
) -> None:
    result = run(
        "credits", *argv, "--api-base-url", nowhere(), "--json",
        env={"IMAGE_SKILL_TOKEN": "isk_r_unused"},
    )  # fmt: skip
    envelope = expect(result, 2, "INVALID_ARGUMENTS")
    assert envelope["command"] == f"image-skill credits {argv[0]}"
    assert (envelope["error"].get("recovery") or {}).get("required_flag") == required_flag


# -- payment credentials ----------------------------------------------------------------

CARD = "4242424242424242"
SECRET = "sk_live_51AbCdEfGhIjKlMnOpQrStUv"
NESTED = {"payment_method_data": {"type": "card", "number": "5555 5555 5555 4444"}}
CREDENTIAL_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("card_number", {"credits": 5, "idempotency_key": "c-1", "card_number": CARD}, CARD),
    ("cvc", {"credits": 5, "idempotency_key": "c-2", "cvc": "314"}, "314"),
    ("nested", {"credits": 5, "idempotency_key": "c-3", "metadata": NESTED},
     "5555 5555 5555 4444"),
    ("luhn-in-pack-id", {"pack_id": "4000-0566-5566-5556", "idempotency_key": "c-4"},
     "4000-0566-5566-5556"),
    ("luhn-in-key", {"credits": 5, "idempotency_key": CARD}, CARD),
    ("luhn-as-number", {"credits": 4012888888881881, "idempotency_key": "c-5"},
     "4012888888881881"),
    ("secret-key", {"credits": 5, "idempotency_key": SECRET}, SECRET),
    ("secret-inside-key", {"credits": 5, "idempotency_key": f"run-{SECRET}"}, SECRET),
    ("secret-in-list", {"credits": 5, "idempotency_key": "c-6", "notes": ["x", SECRET]}, SECRET),
]  # fmt: skip
ROUTES = [
    "/v1/credit-quotes",
    "/v1/credit-purchases",
    "/v1/credit-purchases/stripe-checkout-sessions",
]


def test_payment_credentials_are_refused_and_never_echoed(server: Server, run: RunCli) -> None:
    agent = new_agent(run, server, "carder")
    me = acting(run, server, agent)
    fake_quote = ok(me("credits", "quote", "--credits", "5", "--idempotency-key", "q-ok"))
    for route in ROUTES:
        for name, body, value in CREDENTIAL_BODIES:
            sent = body if route == ROUTES[0] else dict(body, quote_id=fake_quote["quote_id"])
            status, headers, text = api(server, "POST", route, sent, agent.token)
            assert (status, headers.get("x-image-skill-exit-code")) == (400, "2"), (name, text)
            error = json.loads(text)["error"]
            assert error["code"] == "PAYMENT_CREDENTIALS_REFUSED", (name, route, error)
            assert value not in json.dumps(error), name
            if len(value) >= 12:  # long enough never to turn up by chance in ids
                assert value not in text and value.replace(" ", "") not in text, name
    # The guard stops a caller with no token too, before anything else is looked at.
    _status, _headers, text = api(server, "POST", ROUTES[0], CREDENTIAL_BODIES[0][1])
    assert json.loads(text)["error"]["code"] == "PAYMENT_CREDENTIALS_REFUSED" and CARD not in text

    # Nothing happened: no quote was stored under a refused key, nothing was bought.
    unused = expect(me("credits", "quote", "--credits", "9", "--idempotency-key", "c-1"), 0)
    assert unused["warnings"] == [] and unused["data"]["credits"] == 9
    assert ok(me("credits", "status", "--quote-id", fake_quote["quote_id"]))["state"] == "quoted"
    assert balance(me) == FREE_PREVIEW

    # The CLI has no flag that could carry a credential, and does not echo the value.
    typed = me("credits", "quote", "--credits", "5", "--card-number", CARD)
    expect(typed, 2, "INVALID_ARGUMENTS")
    assert CARD not in typed.stdout + typed.stderr
    log = server.log()
    for _name, _body, value in CREDENTIAL_BODIES:
        if len(value) >= 12:
            assert value not in log and value.replace(" ", "") not in log


# -- expiry and quota refusals ----------------------------------------------------------


def expire(database_url: str, quote_id: str) -> None:
    """Move a quote's window into the past, directly in the server's database."""
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with Session(engine) as session, session.begin():
            row = session.get(CreditQuote, quote_id)
            assert row is not None
            row.expires_at = datetime.now(UTC) - timedelta(minutes=5)
    finally:
        engine.dispose()


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_expired_quotes_are_not_settled(shared: Shared, run: RunCli) -> None:
    server = shared.server
    me = acting(run, server, new_agent(run, server, "late"))
    fake = ok(me("credits", "quote", "--credits", "5", "--idempotency-key", "e-fake"))
    assert parse_iso(fake["expires_at"]) - parse_iso(fake["created_at"]) == timedelta(seconds=60)
    stripe = ok(
        me("credits", "quote", "--credits", "50", "--payment-method", "stripe_checkout",
           "--idempotency-key", "e-stripe")
    )  # fmt: skip
    for made in (fake, stripe):
        expire(shared.database_url, made["quote_id"])

    late = me("credits", "fake-purchase", "--quote-id", fake["quote_id"], "--idempotency-key", "l")
    recovery = expect(late, 1, "QUOTE_EXPIRED")["error"]["recovery"]
    assert "credits quote" in recovery["suggested_command"]
    late_buy = me(
        "credits", "buy", "--provider", "stripe", "--quote-id", stripe["quote_id"],
        "--idempotency-key", "l",
    )  # fmt: skip
    expect(late_buy, 1, "QUOTE_EXPIRED")
    status = ok(me("credits", "status", "--quote-id", fake["quote_id"]))
    assert status["state"] == "expired" and status["quote"]["state"] == "expired"
    assert "credits quote" in status["next"]["suggested_command"]
    assert balance(me) == FREE_PREVIEW
    assert expect(me("whoami"), 0)["actor"]["claim_state"] == "unclaimed"


def create(as_: Acting, model: str) -> CliRun:
    return as_("create", "--prompt", "a small red square", "--model", model)


def fake_buy(as_: Acting, *quote_flags: str, key: str) -> dict[str, Any]:
    quote_id = ok(as_("credits", "quote", *quote_flags, "--idempotency-key", f"{key}-q"))
    return ok(
        as_("credits", "fake-purchase", "--quote-id", quote_id["quote_id"],
            "--idempotency-key", f"{key}-p")
    )  # fmt: skip


def test_quota_refusals_name_the_next_command(server: Server, run: RunCli) -> None:
    # An unclaimed agent's daily cap (two 1-credit sketches); a purchase lifts it.
    capped = acting(run, server, new_agent(run, server, "capped"))
    for _ in range(2):
        expect(create(capped, "local.sketch"), 0)
    refused = expect(create(capped, "local.sketch"), 5, "DAILY_JOB_CAP_REACHED")
    assert "credits quote" in refused["error"]["recovery"]["suggested_command"]
    assert refused["error"]["recovery"]["retry_after_seconds"] > 0
    fake_buy(capped, "--credits", "5", key="cap")
    expect(create(capped, "local.sketch"), 0)

    # Too few credits for test.counting; the suggested quote, once paid, is enough.
    poor = acting(run, server, new_agent(run, server, "poor"))
    first = ok(create(poor, "test.counting"))
    assert first["cost"]["credit_pricing"]["credits_required"] == COUNTING_CREDITS
    short = expect(create(poor, "test.counting"), 5, "INSUFFICIENT_CREDITS")
    suggested = short["error"]["recovery"]["suggested_command"]
    assert balance(poor) == FREE_PREVIEW - COUNTING_CREDITS
    argv = suggested.split()
    assert argv[:3] == ["image-skill", "credits", "quote"], suggested
    topup = ok(poor(*argv[1:], "--idempotency-key", "poor-q"))  # exactly as suggested
    assert topup["credits"] == COUNTING_CREDITS - (FREE_PREVIEW - COUNTING_CREDITS)
    ok(poor("credits", "fake-purchase", "--quote-id", topup["quote_id"], "--idempotency-key", "p"))
    again = ok(create(poor, "test.counting"))
    assert again["status"] == "completed" and again["assets"]
    assert balance(poor) == 0
