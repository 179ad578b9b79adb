"""Cap and balance refusals name only payment rails the server has configured; ``usage
quota`` shows what was spent; ``serve --home`` and ``doctor`` say where data lives.

Real ``image-skill serve`` processes (SQLite) driven by the real CLI: one server per
payment configuration (fake rail only, Stripe only, nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.agents import cli_sign_up
from tests.support.cli import CLI, RunCli, checked, expect
from tests.support.servers import free_port, running_server

FREE_PREVIEW = 10
CLAIM = "image-skill claim request --json"
RAILS = {
    "fake": {"IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "true"},
    "stripe_checkout": {
        "IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "false",
        "IMAGE_SKILL_STRIPE_SECRET_KEY": "sk_test_recovery",
        "IMAGE_SKILL_STRIPE_WEBHOOK_SECRET": "whsec_recovery",
    },
    "none": {"IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "false"},
}


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


@pytest.mark.slow
@pytest.mark.parametrize("rail", list(RAILS))
def test_cap_refusal_names_a_rail_this_server_has(rail: str, run: RunCli, tmp_path: Path) -> None:
    env = {**RAILS[rail], "IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "1"}
    with running_server(f"sqlite:///{tmp_path / 'rails.db'}", tmp_path, env) as server:
        agent = cli_sign_up(run, server.base_url, email="cap@example.com", name="cap", save=False)
        as_agent = {"IMAGE_SKILL_API_BASE_URL": server.base_url, "IMAGE_SKILL_TOKEN": agent.token}

        def me(*argv: str) -> Any:
            return run(*argv, "--json", env=as_agent)

        first = expect(me("create", "--prompt", "a red fox", "--model", "local.sketch"), 0)
        cost = first["data"]["cost"]["credit_pricing"]["credits_required"]
        spending = expect(me("usage", "quota"), 0)["data"]["spending"]
        assert spending["spent_today_credits"] == spending["spent_total_credits"] == cost > 0
        assert spending["spent_today_usd"] == round(cost * 0.01, 2)
        assert spending["reserved_credits"] == 0 and spending["reserved_usd"] == 0
        assert spending["remaining_credits"] == FREE_PREVIEW - cost
        assert spending["remaining_usd"] == round((FREE_PREVIEW - cost) * 0.01, 2)
        assert spending["credit_unit_usd"] == 0.01

        again = me("create", "--prompt", "again", "--model", "local.sketch")
        error = expect(again, 5, "DAILY_JOB_CAP_REACHED")["error"]
        assert error["retryable"] is True and error["recovery"]["retry_after_seconds"] > 0
        suggested = error["recovery"]["suggested_command"]
        raisers = {way["by"]: way for way in error["details"]["raised_by"]}
        assert raisers["claim"] == {"by": "claim", "daily_cap": 500, "command": CLAIM}
        if rail == "none":
            assert suggested == CLAIM and set(raisers) == {"claim"}
            assert "credits quote" not in json.dumps(error)
            assert "payments are not configured" in error["message"]
            assert "claiming this agent raises it to 500" in error["message"]
            # With no payment_method the quote names the missing rails and what else helps.
            quote = me("credits", "quote", "--pack", "starter-500")
            unpaid = expect(quote, 4, "PAYMENT_PROVIDER_NOT_CONFIGURED")["error"]
            assert unpaid["recovery"]["suggested_command"] == CLAIM
            return
        assert suggested == (
            f"image-skill credits quote --pack starter-500 --payment-method {rail} --json"
        )
        other = "stripe" if rail == "fake" else "fake"
        assert other not in json.dumps(error)
        assert "a credit purchase raises it to 50 a day" in error["message"]
        assert raisers["purchase"]["command"] == suggested
        # The suggestion runs exactly as printed, and so does a quote that names no rail.
        argv = suggested.split()
        assert argv[0] == "image-skill"
        quoted = expect(run(*argv[1:], env=as_agent), 0)["data"]
        assert quoted["accepted_payment_method"] == rail
        default = expect(me("credits", "quote", "--credits", "60"), 0)["data"]
        assert default["accepted_payment_method"] == rail
        if rail == "fake":
            paid = me("credits", "fake-purchase", "--quote-id", quoted["quote_id"],
                      "--idempotency-key", "cap-paid")  # fmt: skip
            expect(paid, 0)
            expect(me("create", "--prompt", "lifted", "--model", "local.sketch"), 0)


def test_doctor_lists_its_checks_when_the_service_is_unreachable(run: RunCli) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    failed = expect(
        run("doctor", "--api-base-url", nowhere, "--json"), 7, "HOSTED_API_REQUEST_FAILED"
    )
    details = failed["error"]["details"]
    names = [check["name"] for check in details["checks"]]
    assert names == ["cli", "service", "auth", "output_dir", "config", "storage"]
    assert details["checks"][1]["status"] == "fail" and details["api_base_url"] == nowhere
    human = run("doctor", "--api-base-url", nowhere)
    assert human.exit_code == 7
    for name in names:
        assert f" {name}: " in human.stderr, human.stderr


def test_doctor_names_the_embedded_data_directory(run: RunCli) -> None:
    checks = expect(run("doctor", "--json"), 0)["data"]["checks"]
    (storage,) = [check for check in checks if check["name"] == "storage"]
    assert storage["data_dir"] == os.environ["IMAGE_SKILL_HOME"]
    assert (storage["database"], storage["asset_store"]) == ("sqlite", "local")


@pytest.mark.slow
def test_serve_home_puts_the_database_there(database_url: str, tmp_path: Path, run: RunCli) -> None:
    home = tmp_path / "chosen home"
    elsewhere = tmp_path / "env home"
    env = dict(os.environ, IMAGE_SKILL_HOME=str(elsewhere))
    env.pop("IMAGE_SKILL_DATABASE_URL", None)
    sqlite = database_url.startswith("sqlite")
    if not sqlite:
        env["IMAGE_SKILL_DATABASE_URL"] = database_url
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--home", str(home)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, process, log)
        agent = cli_sign_up(run, base_url, email="home@example.com", name="home", save=False)
        as_agent = {"IMAGE_SKILL_API_BASE_URL": base_url, "IMAGE_SKILL_TOKEN": agent.token}
        expect(run("create", "--prompt", "a shed", "--json", env=as_agent), 0)
    finally:
        process.terminate()
        process.wait(timeout=20)
    start_line = log.read_text().splitlines()[0]
    kind = "sqlite" if sqlite else "postgresql"
    assert f"(data {home}, database {kind}, assets local;" in start_line, start_line
    assert "://" not in start_line.split("(", 1)[1]  # no database URL, hence no password
    assert (home / "image-skill.db").exists() is sqlite
    assert not elsewhere.exists()
    assert any(path.is_file() for path in home.rglob("*") if path.name != "image-skill.db")


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(log.read_text())
