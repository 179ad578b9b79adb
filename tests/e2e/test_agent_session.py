"""Issue 13's agent session, played through the real CLI: embedded, then against a server.

An agent that has only the installed CLI makes a picture, edits it, saves both,
checks what it spent, lists its assets and leaves feedback; then signs up as a
new, capped agent and runs into the daily cap. Each step asserts what the issue
found missing: the stand-in says so with the step that enables a real model,
``--output`` writes a file whose sha256 is the asset's, the guide is printed and
served, the cap refusal suggests the fake rail when Stripe is off, ``usage``
shows spent figures, ``assets list`` lists, typos get a "did you mean", and the
JSON fields of point 10 say what they mean. ``ESSENTIAL`` counts the commands of
make -> edit -> save both -> check spend -> feedback in embedded mode.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from image_skill.guide import read as read_guide
from tests.fakes.openai_api import FakeImagesAPI
from tests.support.cli import RunCli, checked_until_teardown, expect
from tests.support.servers import Server, running_server

pytestmark = pytest.mark.slow  # about twenty CLI processes per test

PROVIDER_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "FAL_KEY",
    "XAI_API_KEY",
    "IMAGE_SKILL_DIFFUSERS_MODEL_DIR",
    "IMAGE_SKILL_DEFAULT_CREATE_MODEL",
    "IMAGE_SKILL_DEFAULT_EDIT_MODEL",
    "IMAGE_SKILL_STRIPE_SECRET_KEY",
    "STRIPE_SECRET_KEY",
)
# make -> edit -> save both -> check spend -> feedback, one command each (issue 13: 7 before).
ESSENTIAL = 4
SIGNUP = ("signup", "--agent", "--human-email", "owner@example.com", "--agent-name")
FEEDBACK = (
    "feedback", "create", "--title", "Session went fine",
    "--body", "make, edit, save and spend took one command each",
)  # fmt: skip


@pytest.fixture
def run(
    cli: RunCli, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunCli]:
    """The real CLI with no provider and no Stripe configured, whatever this machine has."""
    for name in PROVIDER_VARS:
        monkeypatch.delenv(name, raising=False)
    yield from checked_until_teardown(cli, request)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """``image-skill serve`` (SQLite) with the fake rail on and Stripe off."""
    for name in PROVIDER_VARS:
        monkeypatch.delenv(name, raising=False)
    env = {"IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "true"}
    with running_server(f"sqlite:///{tmp_path / 'session.db'}", tmp_path, env) as running:
        yield running


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_saved(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The one output was saved to ``path`` in the same command, verified; the asset."""
    (asset,) = data["assets"]
    (saved,) = data["saved"]
    assert asset["saved_to"] == saved["path"] == str(path)
    assert saved["sha256"] == asset["sha256"] == sha256_of(path)
    assert saved["bytes"] == asset["content_length"] == path.stat().st_size
    # Point 10: path is the 0.1.0 name of url (documented), never a local file path.
    assert asset["path"] == asset["url"] != str(path)
    assert asset["source"] == "hosted_metadata"
    return dict(asset)


def assert_stand_in(envelope: dict[str, Any]) -> None:
    """The default create/edit on a stand-in says so, with the step that enables a real one."""
    data = envelope["data"]
    assert data["stand_in"] is True
    notice = data["stand_in_notice"]
    assert notice["code"] == "STAND_IN_MODEL" and "OPENAI_API_KEY" in notice["how_to_enable"]
    (warning,) = [w for w in envelope["warnings"] if w.startswith("STAND_IN_MODEL:")]
    assert notice["how_to_enable"] in warning


def play_make_edit_save(run: RunCli, workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """create --output, then edit --output of the created asset; both assets."""
    fox, mirrored = workdir / "fox.png", workdir / "fox-mirrored.png"
    created = expect(run("create", "--prompt", "a red fox in snow", "--output", str(fox),
                         "--json", env=env), 0)  # fmt: skip
    assert_stand_in(created)
    made = assert_saved(created["data"], fox)
    assert made["kind"] == "generated"
    edited = expect(run("edit", "--input", made["asset_id"], "--prompt", "mirror",
                        "--output", str(mirrored), "--json", env=env), 0)  # fmt: skip
    assert_stand_in(edited)
    changed = assert_saved(edited["data"], mirrored)
    assert changed["kind"] == "edited"  # point 10: not "generated"
    assert edited["data"]["input_asset"]["asset_id"] == made["asset_id"]
    return {"created": made, "edited": changed}


def test_embedded_session(run: RunCli, tmp_path: Path) -> None:
    # The guide is in the tool.
    guide = run("skill")
    assert guide.exit_code == 0 and guide.stdout == read_guide("skill")
    assert "image-skill skill" in expect(run("help", "--json"), 0)["data"]["docs"]
    doctor = expect(run("doctor", "--json"), 0)["data"]
    assert doctor["mode"] == "embedded"

    # make -> edit -> save both -> check spend -> feedback: ESSENTIAL commands.
    commands = 0
    assets = play_make_edit_save(run, tmp_path, {})
    commands += 2
    assert assets["created"]["url"].startswith("file://")
    quota = expect(run("usage", "--json"), 0)  # point 10: usage alone is usage quota
    commands += 1
    assert quota["command"] == "image-skill usage quota"
    spending = quota["data"]["spending"]
    for figure in ("spent_today_credits", "spent_total_credits", "spent_today_usd"):
        assert figure in spending
    expect(run(*FEEDBACK, "--json"), 0)
    commands += 1
    assert commands == ESSENTIAL

    listed = expect(run("assets", "list", "--json"), 0)["data"]["assets"]
    assert [a["asset_id"] for a in listed] == [
        assets["edited"]["asset_id"],
        assets["created"]["asset_id"],
    ]
    only_edits = expect(run("assets", "list", "--kind", "edited", "--json"), 0)["data"]
    assert [a["asset_id"] for a in only_edits["assets"]] == [assets["edited"]["asset_id"]]

    # The README's creative edit on a fresh install: exit 2 naming the generative models.
    creative = run("edit", "--input", assets["created"]["asset_id"], "--prompt",
                   "Remove the background and keep natural object shadows", "--json")  # fmt: skip
    error = expect(creative, 2, "INVALID_ARGUMENTS")["error"]
    assert "openai.gpt-image-2-edit" in error["details"]["generative_models"]
    assert "export OPENAI_API_KEY=" in error["message"]
    assert error["recovery"]["suggested_command"] == "image-skill models list"

    # Did you mean: a command, a flag, a model id.
    typo = expect(run("crete", "--json"), 2, "INVALID_ARGUMENTS")["error"]
    assert "Did you mean 'create'?" in typo["message"]
    flag = expect(run("create", "--promt", "x", "--json"), 2, "INVALID_ARGUMENTS")["error"]
    assert "Did you mean --prompt?" in flag["message"]
    model = run("create", "--prompt", "x", "--model", "local.skech", "--dry-run", "--json")
    assert "Did you mean 'local.sketch'?" in expect(model, 2, "MODEL_NOT_FOUND")["error"]["message"]

    # Point 10: capabilities list is a summary in human mode, the schemas with --json.
    human = run("capabilities", "list")
    assert human.exit_code == 0 and len(human.stdout.splitlines()) < 15
    assert "model_parameters_schema" in run("capabilities", "list", "--json").stdout

    # Point 9: a text file named .png is an input error, not a policy refusal.
    (tmp_path / "notes.png").write_text("not an image\n")
    not_image = run("upload", str(tmp_path / "notes.png"), "--json")
    expect(not_image, 2, "UPLOAD_MIME_TYPE_UNKNOWN")
    # Point 9: a server's token with no server URL says the CLI is embedded.
    stray = run("whoami", "--json", env={"IMAGE_SKILL_TOKEN": "isk_r_" + "a" * 38})
    stray_error = expect(stray, 3, "AUTH_INVALID")["error"]
    assert "embedded mode" in stray_error["message"]
    assert "IMAGE_SKILL_API_BASE_URL" in stray_error["message"]

    # A new agent in embedded mode: the warning names the way back; the cap suggests the
    # fake rail (Stripe is off), and what raises the cap.
    signed = expect(run(*SIGNUP, "capped-bot", "--save", "--json"), 0)
    assert signed["data"]["storage"]["url_scheme"] == "file"
    assert any("auth logout" in w for w in signed["warnings"])
    assert_cap_suggests_the_fake_rail(run, {})
    expect(run("auth", "logout", "--json"), 0)
    assert expect(run("whoami", "--json"), 0)["actor"]["actor_type"] == "human"


def test_a_creative_edit_on_the_stand_in_names_the_configured_edit_model(run: RunCli) -> None:
    source = expect(run("create", "--prompt", "a fox", "--json"), 0)["data"]["assets"][0]
    key = "sk-test-session-never-shown"
    with FakeImagesAPI(key).running() as fake:
        env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": fake.base_url}
        asked = run("edit", "--input", source["asset_id"], "--model", "local.transform",
                    "--prompt", "Remove the background", "--dry-run", "--json",
                    env=env)  # fmt: skip
    error = expect(asked, 2, "INVALID_ARGUMENTS")["error"]
    assert error["message"].endswith(
        "For a creative edit, rerun with --model openai.gpt-image-2-edit."
    )
    assert (
        error["recovery"]["suggested_command"] == "image-skill models show openai.gpt-image-2-edit"
    )
    assert key not in asked.stdout


def assert_cap_suggests_the_fake_rail(run: RunCli, env: dict[str, str]) -> None:
    """Use up the capped agent's jobs; the refusal suggests a fake-rail quote that runs."""
    for prompt in ("one", "two", "three"):
        result = run("create", "--prompt", prompt, "--json", env=env)
        if result.exit_code != 0:
            break
    error = expect(result, 5, "DAILY_JOB_CAP_REACHED")["error"]
    suggested = error["recovery"]["suggested_command"]
    assert suggested == "image-skill credits quote --pack starter-500 --payment-method fake --json"
    assert "stripe" not in json.dumps(error)
    assert "a credit purchase raises it" in error["message"]
    quoted = expect(run(*suggested.split()[1:], env=env), 0)["data"]
    assert quoted["accepted_payment_method"] == "fake"


def fetch_text(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_server_session(server: Server, run: RunCli, tmp_path: Path) -> None:
    base = server.base_url
    # The same guide, served; a plain home page.
    for path, name in (("/skill.md", "skill"), ("/cli.md", "cli"), ("/llms.txt", "llms")):
        assert fetch_text(base + path) == (200, read_guide(name)), path
    status, home = fetch_text(base + "/")
    assert status == 200 and "/skill.md" in home

    signed = expect(run(*SIGNUP, "server-bot", "--save", "--api-base-url", base, "--json"), 0)
    assert signed["data"]["storage"]["url_scheme"] == "http"  # point 10: the URLs' scheme
    assert not any("auth logout" in w for w in signed["warnings"])  # not embedded
    env = {"IMAGE_SKILL_API_BASE_URL": base}
    doctor = expect(run("doctor", "--json", env=env), 0)["data"]
    assert (doctor["mode"], doctor["service"]["mode"]) == ("server", "server")

    assets = play_make_edit_save(run, tmp_path, env)
    assert assets["created"]["url"].startswith(base + "/a/")
    spending = expect(run("usage", "--json", env=env), 0)["data"]["spending"]
    spent = spending["spent_total_credits"]
    assert spent > 0 and spending["spent_total_usd"] == round(spent * 0.01, 2)
    listed = expect(run("assets", "list", "--json", env=env), 0)["data"]["assets"]
    assert {a["asset_id"] for a in listed} == {a["asset_id"] for a in assets.values()}
    expect(run(*FEEDBACK, "--json", env=env), 0)
    # Two jobs (create, edit) used the unclaimed agent's day: the cap, and the fake rail.
    assert_cap_suggests_the_fake_rail(run, env)
