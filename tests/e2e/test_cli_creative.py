"""models, capabilities, create, upload and edit through the real CLI.

Against ``image-skill serve`` (SQLite and PostgreSQL; some servers load the
counting provider plugin) and in embedded mode. Every asset URL is fetched with
no token and its bytes are checked against the sha256 the CLI reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked, expect, job_ids
from tests.support.images import (
    GPS_IFD,
    SVG,
    gps_jpeg,
    open_image,
    png_bytes,
    sha256,
    truncated_png,
)
from tests.support.plugins import plugin_env, provider_calls
from tests.support.servers import Server, running_server
from tests.support.web import fetch, file_url_path, web_server

CREATE_CAPABILITY = "is.image.generate.preview.v1"


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


def assert_fetched_asset(asset: dict[str, object], base_url: str) -> bytes:
    """The asset URL is ``<base>/a/<id>.<ext>`` and serves exactly the reported bytes."""
    asset_id, url = asset["asset_id"], str(asset["url"])
    assert url.startswith(f"{base_url}/a/{asset_id}."), url
    body = fetch(url)
    assert sha256(body) == asset["sha256"] and len(body) == asset["content_length"]
    return body


# -- catalog, create, budget and the unclaimed daily cap against a server --------------------


def test_catalog_create_and_daily_cap_against_server(server: Server, run: RunCli) -> None:
    base = ("--api-base-url", server.base_url, "--json")

    # The catalog is public: no signup needed.
    models = expect(run("models", *base), 0)
    listed = expect(run("models", "list", *base), 0)
    assert models["command"] == listed["command"] == "image-skill models list"
    assert models["data"] == listed["data"]
    ids = [m["model_id"] for m in listed["data"]["models"]]
    assert {"local.sketch", "local.transform"} <= set(ids) and ids == sorted(ids)
    assert listed["data"]["defaults"] == {"create": "local.sketch", "edit": "local.transform"}

    sketch = expect(run("models", "show", "local.sketch", *base), 0)["data"]["model"]
    assert sketch["model_id"] == "local.sketch" and sketch["operations"] == ["create"]
    assert sketch["capability_ids"] == [CREATE_CAPABILITY]
    assert sketch["cost"]["credit_pricing"]["credits_required"] == 1
    params = sketch["model_parameters"]
    schema = params["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(params["executable"]) == {"seed", "long_edge", "quality"}
    assert params["planning_only"] == ["negative_prompt"]
    assert set(schema["properties"]) == {*params["executable"], *params["planning_only"]}
    assert params["unknown_fields"] == "rejected"
    assert "16:9" in sketch["normalized_controls"]["aspect_ratios"]

    missing = expect(run("models", "show", "nope", *base), 2, "MODEL_NOT_FOUND")
    assert missing["error"]["recovery"]["suggested_command"].startswith("image-skill models list")

    caps = expect(run("capabilities", *base), 0)
    assert caps["command"] == "image-skill capabilities list"
    cap_ids = [c["capability_id"] for c in caps["data"]["capabilities"]]
    assert CREATE_CAPABILITY in cap_ids and "is.image.edit.preview.v1" in cap_ids
    cap = expect(run("capabilities", "show", CREATE_CAPABILITY, *base), 0)["data"]["capability"]
    assert cap["capability_id"] == CREATE_CAPABILITY and cap["command"] == "image-skill create"
    assert "local.sketch" in [m["model_id"] for m in cap["models"]]
    assert "local.transform" not in [m["model_id"] for m in cap["models"]]
    expect(run("capabilities", "show", "is.nope.v1", *base), 1, "NOT_FOUND")

    # An unclaimed agent: two creative jobs a day, 10 credits.
    cli_sign_up(run, server.base_url)
    first = expect(run("create", "--prompt", "a lighthouse in fog", "--json"), 0)
    data = first["data"]
    assert first["command"] == "image-skill create" and data["status"] == "completed"
    assert data["model_id"] == "local.sketch" and data["capability"]["id"] == CREATE_CAPABILITY
    (asset,) = data["assets"]
    png = assert_fetched_asset(asset, server.base_url)
    assert png.startswith(b"\x89PNG") and asset["mime_type"] == "image/png"
    assert open_image(png).size == (asset["width"], asset["height"]) == (1024, 1024)
    assert data["quota"]["credits_debited"] == 1 and data["quota"]["balance_after"] == 9
    assert "a lighthouse in fog" not in job_stdout(run, data["job_id"])

    # A dry run plans and prices but changes nothing.
    before = job_ids(run)
    plan = expect(run("create", "--prompt", "a plan", "--dry-run", "--json"), 0)["data"]
    assert plan["dry_run"] is True and plan["would_execute"] is True and plan["blocked_by"] == []
    assert plan["changes"] == "none" and plan["cost"]["credit_pricing"]["credits_required"] == 1
    assert plan["quota"]["balance"] == 9 and plan["quota"]["used_today"] == 1
    assert "assets" not in plan and "job_id" not in plan
    assert job_ids(run) == before == [data["job_id"]]

    # Refusals that cost nothing: arguments, parameters, budget.
    both = expect(
        run("create", "--prompt", "p", "--prompt-file", "f.txt", "--json"), 2, "INVALID_ARGUMENTS"
    )
    assert "--prompt-file" in both["error"]["message"]
    neither = expect(run("create", "--json"), 2, "INVALID_ARGUMENTS")
    assert neither["error"]["recovery"]["required_flag"] == "--prompt"
    bad_json = expect(
        run("create", "--prompt", "p", "--model-parameters-json", "{seed: 7", "--json"),
        2,
        "INVALID_ARGUMENTS",
    )
    assert bad_json["error"]["details"]["field"] == "--model-parameters-json"
    for field in ("bogus_knob", "negative_prompt"):
        refused = expect(
            run(
                "create",
                "--prompt",
                "p",
                "--model-parameters-json",
                f'{{"{field}": "x"}}',
                "--json",
            ),
            2,
            "MODEL_PARAMETERS_INVALID",
        )
        assert refused["error"]["details"]["field"] == f"model_parameters.{field}"
        assert f"model_parameters.{field}" in refused["error"]["message"]
    capped = expect(
        run("create", "--prompt", "p", "--max-usd", "0.001", "--json"), 4, "BUDGET_CAP_EXCEEDED"
    )
    assert capped["error"]["retryable"] is False
    # The refusal is kept as a never-started failed job; nothing else changed.
    assert job_ids(run) == [capped["error"]["details"]["refused_job_id"], *before]

    # The second job of the day, 16:9; the third is refused.
    wide = expect(run("create", "--prompt", "a wide sea", "--aspect-ratio", "16:9", "--json"), 0)
    (wide_asset,) = wide["data"]["assets"]
    assert (wide_asset["width"], wide_asset["height"]) == (1024, 576)
    assert open_image(assert_fetched_asset(wide_asset, server.base_url)).size == (1024, 576)
    assert wide["data"]["resolved"]["aspect_ratio"] == "16:9"

    third = expect(run("create", "--prompt", "one more", "--json"), 5, "DAILY_JOB_CAP_REACHED")
    assert third["error"]["recovery"]["retry_after_seconds"] > 0
    # Two jobs ran; the two refusals (budget, cap) are kept as failed jobs beside them.
    assert len(job_ids(run)) == 4 and len(job_ids(run, "--status", "completed")) == 2
    quota = expect(run("usage", "quota", "--json"), 0)["data"]
    assert quota["jobs"]["used_today"] == 2 and quota["credits"]["balance"] == 8
    assert "a lighthouse in fog" not in server.log()  # prompts are never logged


def job_stdout(run: RunCli, job_id: str) -> str:
    """``jobs show`` output (the prompt must never be stored or shown)."""
    shown = run("jobs", "show", job_id, "--json")
    expect(shown, 0)
    return shown.stdout


# -- options, idempotency and the unknown-price guard, with the counting provider ------------


def test_create_options_idempotency_and_unknown_cost(
    database_url: str, tmp_path: Path, run: RunCli
) -> None:
    calls = tmp_path / "provider-calls.log"
    env = plugin_env(calls, daily_job_cap_unclaimed=50, free_preview_credits=1000)
    with running_server(database_url, tmp_path, env) as server:
        cli_sign_up(run, server.base_url)

        webp = expect(run("create", "--prompt", "a fox", "--format", "webp", "--json"), 0)
        (asset,) = webp["data"]["assets"]
        assert asset["mime_type"] == "image/webp" and ".webp?sig=" in asset["url"]
        body = assert_fetched_asset(asset, server.base_url)
        assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
        assert webp["data"]["resolved"]["output_format"] == "webp"

        seeded = [
            expect(
                run(
                    "create", "--prompt", "a fox", "--model-parameters-json", '{"seed":7}', "--json"
                ),
                0,
            )["data"]
            for _ in range(2)
        ]
        (one,), (two,) = (d["assets"] for d in seeded)
        assert seeded[0]["job_id"] != seeded[1]["job_id"] and one["asset_id"] != two["asset_id"]
        assert one["sha256"] == two["sha256"] != asset["sha256"]
        assert seeded[0]["resolved"]["model_parameters"] == {"seed": 7}
        assert_fetched_asset(two, server.base_url)

        prompt_file = tmp_path / "prompt.txt"
        prompt_file.write_text("a fox\n", encoding="utf-8")
        from_file = run(
            "create",
            "--prompt-file",
            str(prompt_file),
            "--model-parameters-json",
            '{"seed":7}',
            "--json",
        )
        (same,) = expect(from_file, 0)["data"]["assets"]
        assert same["sha256"] == one["sha256"]  # the file's prompt ("a fox") was used
        empty = tmp_path / "empty.txt"
        empty.write_text("  \n", encoding="utf-8")
        expect(run("create", "--prompt-file", str(empty), "--json"), 2, "INVALID_ARGUMENTS")
        assert provider_calls(calls) == []  # local.sketch is not the counting provider

        # Unknown price: refused without the flag, and no provider call.
        unknown = ("create", "--prompt", "a fox", "--model", "test.unknown-price", "--json")
        refused = expect(run(*unknown), 4, "BUDGET_REQUIRES_CONFIRMATION")
        assert refused["error"]["recovery"]["required_flag"] == "--accept-unknown-cost"
        assert provider_calls(calls) == []
        accepted = expect(run(*unknown, "--accept-unknown-cost"), 0)["data"]
        assert provider_calls(calls) == [("test.unknown-price", "create", accepted["job_id"])]

        # Idempotency: the same key and body answer the first job; one provider call.
        keyed = ("create", "--model", "test.counting", "--idempotency-key", "k-e2e-1", "--json")
        first = expect(run(*keyed, "--prompt", "a kettle"), 0)["data"]
        again = expect(run(*keyed, "--prompt", "a kettle"), 0)["data"]
        assert again["job_id"] == first["job_id"]
        assert again["assets"] == first["assets"]
        counted = [c for c in provider_calls(calls) if c[0] == "test.counting"]
        assert counted == [("test.counting", "create", first["job_id"])]
        reused = expect(run(*keyed, "--prompt", "a teapot"), 2, "IDEMPOTENCY_KEY_REUSED")
        assert "a teapot" not in reused["error"]["message"]
        assert len([c for c in provider_calls(calls) if c[0] == "test.counting"]) == 1
        assert job_ids(run, "--status", "completed").count(first["job_id"]) == 1


# -- embedded mode ---------------------------------------------------------------------------


def test_create_embedded_json_and_human(run: RunCli, isolated_home: Path) -> None:
    store = isolated_home / "data"
    created = expect(run("create", "--prompt", "a lighthouse", "--json"), 0)
    assert created["actor"]["claim_state"] == "claimed"  # the local owner
    data = created["data"]
    (asset,) = data["assets"]
    url = asset["url"]
    assert url.startswith("file://") and url.endswith(f"/a/{asset['asset_id']}.png")
    body = fetch(url)
    assert file_url_path(url).is_relative_to(store)
    assert sha256(body) == asset["sha256"] and len(body) == asset["content_length"]
    assert data["quota"]["daily_cap"] is None  # unlimited

    human = run("create", "--prompt", "x")
    assert human.exit_code == 0, human.stderr
    lines = human.stdout.splitlines()
    image_line = next(line for line in lines if line.startswith("image: "))
    image_path = Path(image_line.removeprefix("image: ").split("  (", 1)[0])
    assert image_path.is_file() and image_path.is_relative_to(store)
    asset_line = next(line for line in lines if line.startswith("asset: "))
    assert image_path.name == asset_line.removeprefix("asset: ") + ".png"
    assert open_image(image_path.read_bytes()).size == (1024, 1024)
    assert "{" not in human.stdout  # not the JSON envelope


# -- uploads and edits -----------------------------------------------------------------------


def test_upload_and_edit_every_input_kind(
    database_url: str, tmp_path: Path, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "50"}
    original = png_bytes(40, 20)
    files = {"/img.png": original, "/gps.jpg": gps_jpeg()}
    with running_server(database_url, tmp_path, env) as server, web_server(files) as web:
        cli_sign_up(run, server.base_url)
        monkeypatch.chdir(tmp_path)
        Path("local.png").write_bytes(original)

        # A local file, read by the CLI.
        local = expect(run("upload", "local.png", "--json"), 0)["data"]
        assert local["request"] == {
            "source_kind": "local_path",
            "filename": "local.png",
            "remote_origin": None,
        }
        uploaded = local["asset"]
        assert uploaded["kind"] == "uploaded" and (uploaded["width"], uploaded["height"]) == (
            40,
            20,
        )
        assert uploaded["sha256"] == sha256(original)
        assert assert_fetched_asset(uploaded, server.base_url) == original

        # A URL, fetched by the CLI (once), never by the service; only scheme://host is kept.
        remote = run("upload", f"{web.base_url}/img.png?sig=SECRET123", "--json")
        remote_data = expect(remote, 0)["data"]
        assert web.hits == ["/img.png?sig=SECRET123"] and "SECRET123" not in remote.stdout
        assert remote_data["request"] == {
            "source_kind": "remote_url",
            "filename": "img.png",
            "remote_origin": web.base_url,
        }
        assert remote_data["asset"]["sha256"] == sha256(original)

        # Metadata that locates someone is stripped before storing.
        gps = expect(run("upload", f"{web.base_url}/gps.jpg", "--json"), 0)["data"]
        assert gps["upload"]["policy"]["metadata_stripped"] is True
        stored = assert_fetched_asset(gps["asset"], server.base_url)
        assert stored != files["/gps.jpg"] and gps["asset"]["sha256"] == sha256(stored)
        exif = open_image(stored).getexif()
        assert not exif.get_ifd(GPS_IFD) and 0x010F not in exif
        assert b"SpyCam" not in stored

        # Hostile files are refused and nothing is kept.
        jobs_before = job_ids(run)
        Path("evil.png").write_bytes(SVG)
        Path("cut.png").write_bytes(truncated_png())
        # Not an image by its bytes: refused on this machine, nothing sent.
        local = expect(run("upload", "evil.png", "--json"), 2, "UPLOAD_MIME_TYPE_UNKNOWN")
        assert "evil" not in local["error"]["message"]
        # Image magic bytes but corrupt: the service's decoder refuses it as bad input.
        denied = expect(run("upload", "cut.png", "--json"), 2, "INVALID_ARGUMENTS")
        assert denied["error"]["details"]["rule"] == "upload.corrupt_image"
        assert "cut.png" not in denied["error"]["message"]
        secret_dir = tmp_path / "private-dir-7f3a"
        missing_path = str(secret_dir / "missing-photo.png")
        missing = run("upload", missing_path, "--json")
        # The path the user typed is echoed (the message never leaves this machine).
        missing_error = expect(missing, 2, "INVALID_ARGUMENTS")["error"]
        assert missing_error["message"] == f"The input file '{missing_path}' does not exist."
        # URL credentials cannot be sent: refused up front, never echoed, nothing fetched.
        userinfo = run("upload", f"http://me:pa55word@{web.base_url[7:]}/img.png", "--json")
        expect(userinfo, 2, "INVALID_ARGUMENTS")
        assert "pa55word" not in userinfo.stdout + userinfo.stderr
        # edit checks its own arguments before uploading, and reports upload refusals.
        expect(run("edit", "--input", "./local.png", "--json"), 2, "INVALID_ARGUMENTS")
        not_there = run("edit", "--input", "./private-photo.png", "--prompt", "mirror", "--json")
        assert expect(not_there, 2, "INVALID_ARGUMENTS")["error"]["details"]["field"] == "--input"
        assert "'./private-photo.png' does not exist" in not_there.stdout
        evil_edit = expect(
            run("edit", "--input", "./cut.png", "--prompt", "mirror", "--json"),
            2,
            "INVALID_ARGUMENTS",
        )
        assert evil_edit["command"] == "image-skill edit"
        assert job_ids(run) == jobs_before
        assert len(web.hits) == 2

        # edit --input: an asset id, an owned URL, a local file, a remote URL.
        by_id = expect(
            run(
                "edit",
                "--input",
                uploaded["asset_id"],
                "--prompt",
                "rotate 90, grayscale",
                "--json",
            ),
            0,
        )["data"]
        assert by_id["model_id"] == "local.transform" and "input_upload" not in by_id
        assert by_id["input_asset"]["asset_id"] == uploaded["asset_id"]
        (edited,) = by_id["assets"]
        image = open_image(assert_fetched_asset(edited, server.base_url))
        assert image.size == (20, 40) == (edited["width"], edited["height"])
        r, g, b = image.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
        assert r == g == b  # grayscale

        by_url = expect(
            run("edit", "--input", uploaded["url"], "--prompt", "flip horizontal", "--json"), 0
        )["data"]
        assert by_url["input_asset"]["asset_id"] == uploaded["asset_id"]
        assert "input_upload" not in by_url

        by_path = expect(
            run("edit", "--input", "./local.png", "--prompt", "scale to 50%", "--json"), 0
        )["data"]
        # The same bytes again: the service returns the asset it already holds.
        new_input = by_path["input_upload"]["asset_id"]
        assert new_input == uploaded["asset_id"]
        assert by_path["input_asset"]["asset_id"] == new_input
        assert (by_path["assets"][0]["width"], by_path["assets"][0]["height"]) == (20, 10)

        by_web = expect(
            run("edit", "--input", f"{web.base_url}/img.png", "--prompt", "mirror", "--json"), 0
        )["data"]
        assert web.hits[1:] == ["/gps.jpg", "/img.png"]
        assert by_web["input_asset"]["asset_id"] == by_web["input_upload"]["asset_id"]
        assert_fetched_asset(by_web["assets"][0], server.base_url)

        # A prompt the transform grammar does not know: the grammar, never the prompt.
        garbled = run(
            "edit", "--input", uploaded["asset_id"], "--prompt", "paint a zqxv dragon", "--json"
        )
        error = expect(garbled, 2, "INVALID_ARGUMENTS")["error"]
        assert "rotate" in error["message"] and "grayscale" in error["message"]
        assert "zqxv" not in garbled.stdout + garbled.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_edit_of_a_local_file_is_retry_safe_with_an_idempotency_key(
    server: Server, run: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_sign_up(run, server.base_url)
    monkeypatch.chdir(tmp_path)
    Path("local.png").write_bytes(png_bytes(16, 8))
    edit = ("edit", "--input", "./local.png", "--prompt", "grayscale", "--json")
    first = expect(run(*edit, "--idempotency-key", "retry-1"), 0)["data"]
    again = expect(run(*edit, "--idempotency-key", "retry-1"), 0)["data"]
    assert again["job_id"] == first["job_id"]
