"""Creative CLI: argument checks, input normalization and SDK request shapes.

Pure and fast: no service is started. Commands run through ``runner.run`` with
the service replaced by fakes (or forbidden outright for argument failures).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from image_skill.cli import uploads
from image_skill.cli.context import Context
from image_skill.cli.runner import run
from image_skill.client import Client
from image_skill.contract.creative import CreativeOptions
from image_skill.contract.envelope import success
from image_skill.contract.errors import ImageSkillError
from image_skill.result import Result
from image_skill.transport import RawResponse

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = run([*argv, "--json"])
    out = capsys.readouterr().out
    envelope = json.loads(out)
    assert isinstance(envelope, dict)
    return code, envelope


@pytest.fixture
def no_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a command reaches for the service."""

    def forbidden(self: Context) -> Client:
        raise AssertionError("argument checks must fail before any service call")

    monkeypatch.setattr(Context, "client", forbidden)


def ok(data: Any) -> Result:
    return Result(success("image-skill test", data, trace_id="trace_0000000000000000"), 0, 200)


class FakeClient:
    """Records calls; answers from canned results."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.upload_result = ok({"asset": {"asset_id": "image_uploaded1"}})
        self.edit_result = ok({"job_id": "job_1", "assets": []})
        self.job_results: list[Result] = []
        self.asset_result = ok({"asset": {}})
        self.download_result: tuple[int, dict[str, str], bytes] = (200, {}, b"")
        self.embedded = True

    def upload(self, **fields: Any) -> Result:
        self.calls.append(("upload", fields))
        return self.upload_result

    def creative(
        self,
        operation: str,
        options: CreativeOptions,
        idempotency_key: str | None = None,
        *,
        input_asset_id: str | None = None,
        wait: bool = True,
    ) -> Result:
        fields = {**asdict(options), "idempotency_key": idempotency_key, "wait": wait}
        if operation == "edit":
            self.calls.append(("edit", {"asset_id": input_asset_id, **fields}))
            return self.edit_result
        self.calls.append(("create", fields))
        return ok({"job_id": "job_1", "assets": []})

    def job(self, job_id: str) -> Result:
        self.calls.append(("job", job_id))
        return self.job_results.pop(0) if len(self.job_results) > 1 else self.job_results[0]

    def wait_job(self, job_id: str, *, timeout_seconds: float) -> Result:
        self.calls.append(("wait_job", (job_id, timeout_seconds)))
        return self.job_results.pop(0) if len(self.job_results) > 1 else self.job_results[0]

    def asset(self, asset_id: str) -> Result:
        self.calls.append(("asset", asset_id))
        return self.asset_result

    def download(self, url: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        self.calls.append(("download", url))
        return self.download_result

    def close(self) -> None:
        pass


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(Context, "client", lambda self: client)
    return client


# -- argument checks ------------------------------------------------------------


@pytest.mark.usefixtures("no_service")
@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["create"], "--prompt"),
        (["create", "--prompt", "  "], "--prompt"),
        (["create", "--prompt", "a", "--prompt-file", "p.txt"], "--prompt"),
        (["create", "--prompt", "a", "--model-parameters-json", "{bad"], "--model-parameters-json"),
        (
            ["create", "--prompt", "a", "--model-parameters-json", "[1, 2]"],
            "--model-parameters-json",
        ),
        (["create", "--prompt", "a", "--max-usd", "-0.5"], "--max-usd"),
        (["create", "--prompt", "a", "--max-usd", "nan"], "--max-usd"),
        (
            ["create", "--prompt", "a", "--max-estimated-usd-per-image", "cheap"],
            "--max-estimated-usd-per-image",
        ),
        (["create", "--prompt", "a", "--aspect-ratio", ""], "--aspect-ratio"),
        (["edit", "--prompt", "a"], "--input"),
        (["edit", "--input", "image_abc"], "--prompt"),
        (["upload"], "PATH_OR_URL"),
        (["assets", "get", "image_abc"], "--output"),
        (["jobs", "wait"], "JOB_ID"),
    ],
)
def test_invalid_arguments(capsys: pytest.CaptureFixture[str], argv: list[str], field: str) -> None:
    code, envelope = run_json(capsys, *argv)
    assert code == 2
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == "INVALID_ARGUMENTS"
    assert envelope["error"]["details"]["field"] == field


@pytest.mark.usefixtures("no_service")
def test_prompt_file_problems_echo_the_path_never_the_text(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The message stays on the user's machine (the /v1/cli bridge refuses
    # --prompt-file), so it names the path they typed; never the file's text.
    missing = tmp_path / "some-dir" / "prompt.md"
    code, envelope = run_json(capsys, "create", "--prompt-file", str(missing))
    assert code == 2
    assert envelope["error"]["code"] == "INVALID_ARGUMENTS"
    assert envelope["error"]["message"] == f"The --prompt-file '{missing}' does not exist."
    code, envelope = run_json(capsys, "create", "--prompt-file", str(tmp_path))
    assert code == 2
    assert (
        envelope["error"]["message"]
        == f"The --prompt-file '{tmp_path}' is a directory; give a text file."
    )
    latin = tmp_path / "latin.txt"
    latin.write_bytes("hush caf\xe9".encode("latin-1"))
    code, envelope = run_json(capsys, "create", "--prompt-file", str(latin))
    assert code == 2
    assert envelope["error"]["message"] == f"The --prompt-file '{latin}' is not UTF-8 text."
    assert "hush" not in json.dumps(envelope)


@pytest.mark.usefixtures("no_service")
def test_model_parameters_error_does_not_echo_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope = run_json(
        capsys, "create", "--prompt", "a", "--model-parameters-json", '"hush-value"'
    )
    assert code == 2
    assert "hush-value" not in json.dumps(envelope)


@pytest.mark.usefixtures("no_service")
def test_upload_missing_file_echoes_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "private" / "x.png"
    code, envelope = run_json(capsys, "upload", str(missing))
    assert code == 2
    assert envelope["error"]["code"] == "INVALID_ARGUMENTS"
    assert envelope["error"]["message"] == f"The input file '{missing}' does not exist."
    code, envelope = run_json(capsys, "upload", str(tmp_path))
    assert code == 2
    assert f"'{tmp_path}' is a directory" in envelope["error"]["message"]


@pytest.mark.usefixtures("no_service")
def test_edit_missing_local_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, envelope = run_json(
        capsys, "edit", "--input", str(tmp_path / "nope.png"), "--prompt", "a"
    )
    assert code == 2
    assert envelope["error"]["details"]["field"] == "--input"


@pytest.mark.usefixtures("no_service")
def test_assets_show_refuses_external_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope = run_json(capsys, "assets", "show", "https://example.com/cat.png")
    assert code == 2
    assert "only" in envelope["error"]["message"].lower()
    assert "owned" in envelope["error"]["message"].lower()


@pytest.mark.usefixtures("no_service")
def test_assets_get_refuses_existing_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "result.png"
    out.write_bytes(b"keep")
    code, envelope = run_json(capsys, "assets", "get", "image_abc", "--output", str(out))
    assert code == 9
    assert envelope["error"]["code"] == "OUTPUT_EXISTS"
    assert envelope["error"]["recovery"]["required_flag"] == "--overwrite"
    assert out.read_bytes() == b"keep"


@pytest.mark.usefixtures("no_service")
def test_jobs_wait_rejects_bad_interval(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope = run_json(capsys, "jobs", "wait", "job_x", "--poll-interval-ms", "0")
    assert code == 2
    assert envelope["error"]["details"]["field"] == "--poll-interval-ms"


def test_create_has_no_output_dir(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope = run_json(capsys, "create", "--prompt", "a", "--output-dir", "x")
    assert code == 2
    assert envelope["error"]["code"] == "INVALID_ARGUMENTS"


# -- input normalization --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("image_abc123", True),
        ("mask_a.b-c_d", True),
        ("file_x", True),
        ("img_abc", False),
        ("image_", False),
        ("image_" + "a" * 129, False),
        ("image_abc/../x", False),
        ("./image_abc", False),
    ],
)
def test_asset_id_recognition(value: str, expected: bool) -> None:
    assert uploads.is_asset_id(value) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://media.example.com/a/image_abc123.png", "image_abc123"),
        ("http://127.0.0.1:8080/a/image_01jz.x-y.webp", "image_01jz.x-y"),
        ("https://cdn.example.com/prefix/a/asset_abc?sig=1", "asset_abc"),
        ("https://example.com/images/image_abc.png", None),  # no /a/
        ("https://example.com/a/photo.png", None),  # not an asset id
        ("image_abc.png", None),  # not a URL
    ],
)
def test_owned_url_recognition(url: str, expected: str | None) -> None:
    assert uploads.asset_id_from_url(url) == expected


def test_classify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert uploads.classify("image_abc") == "asset_id"
    assert uploads.classify("https://m.example.com/a/image_abc.png") == "owned_url"
    assert uploads.classify("https://example.com/cat.png") == "remote_url"
    assert uploads.classify("./cat.png") == "local_path"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "image_abc").write_bytes(PNG)  # an existing file wins over an id look-alike
    assert uploads.classify("image_abc") == "local_path"


def test_metadata_is_basename_and_origin_only() -> None:
    assert uploads.filename_from_path("/home/someone/secret/cat.png") == "cat.png"
    assert uploads.filename_from_url("https://h.example.com/x/y/cat%20one.png?t=1#f") == (
        "cat one.png"
    )
    assert uploads.filename_from_url("https://h.example.com/") == "upload"
    assert uploads.filename_from_url("https://h.example.com/a/..%2F..%2Fetc%2Fpasswd") == "passwd"
    assert uploads.remote_origin("https://user:pw@h.example.com/p/q.png?token=1") == (
        "https://h.example.com"
    )
    assert uploads.remote_origin("http://H.example.com:8080/p") == "http://h.example.com:8080"


def test_read_local_source(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "cat.png"
    path.parent.mkdir()
    path.write_bytes(PNG)
    source = uploads.read_source(str(path))
    fields = source.request_fields()
    assert fields["source_kind"] == "local_path"
    assert fields["filename"] == "cat.png"
    assert fields["remote_origin"] is None
    assert fields["mime_type"] == "image/png"
    assert fields["content_length"] == len(PNG)
    assert fields["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert str(tmp_path) not in json.dumps(fields)


def test_upload_without_asset_id_is_an_error() -> None:
    class NoId:
        def upload(self, **_fields: Any) -> Result:
            return ok({"asset": {}})

    source = uploads.UploadSource("local_path", "cat.png", None, "image/png", PNG)
    with pytest.raises(ImageSkillError) as caught:
        uploads.upload_source(NoId(), source)  # type: ignore[arg-type]
    assert caught.value.code == "UPLOAD_ASSET_ID_MISSING"
    assert caught.value.exit_code == 9


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/img/"):
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("location", "file:///etc/passwd")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_remote(web: str) -> None:
    source = uploads.fetch_remote(f"{web}/img/cat.png?secret=1")
    assert source.source_kind == "remote_url"
    assert source.filename == "cat.png"
    assert source.remote_origin == web
    assert source.content == PNG


@pytest.mark.parametrize("path", ["/missing.png", "/to-file"])
def test_fetch_remote_failures(web: str, path: str) -> None:
    with pytest.raises(ImageSkillError) as caught:
        uploads.fetch_remote(web + path)
    assert caught.value.code == "ASSET_DOWNLOAD_FAILED"
    assert caught.value.exit_code == 7
    assert web not in caught.value.message


def test_upload_command_sends_normalized_fields(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeClient
) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    code, envelope = run_json(capsys, "upload", str(path))
    assert code == 0, envelope
    name, fields = fake.calls[0]
    assert name == "upload"
    assert fields["filename"] == "cat.png"
    assert fields["source_kind"] == "local_path"
    assert fields["remote_origin"] is None


def test_upload_command_missing_asset_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeClient
) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    fake.upload_result = ok({"asset": None})
    code, envelope = run_json(capsys, "upload", str(path))
    assert code == 9
    assert envelope["error"]["code"] == "UPLOAD_ASSET_ID_MISSING"


# -- edit input resolution ------------------------------------------------------


def test_edit_with_asset_id_skips_upload(
    capsys: pytest.CaptureFixture[str], fake: FakeClient
) -> None:
    code, _ = run_json(capsys, "edit", "--input", "image_abc", "--prompt", "blue sky")
    assert code == 0
    assert [c[0] for c in fake.calls] == ["edit"]
    assert fake.calls[0][1]["asset_id"] == "image_abc"
    assert fake.calls[0][1]["aspect_ratio"] == "auto"


def test_edit_with_owned_url_uses_its_id(
    capsys: pytest.CaptureFixture[str], fake: FakeClient
) -> None:
    url = "https://media.example.com/a/image_owned9.png"
    code, _ = run_json(capsys, "edit", "--input", url, "--prompt", "x")
    assert code == 0
    assert [c[0] for c in fake.calls] == ["edit"]
    assert fake.calls[0][1]["asset_id"] == "image_owned9"


def test_edit_with_local_file_uploads_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeClient
) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(PNG)
    code, envelope = run_json(capsys, "edit", "--input", str(path), "--prompt", "x")
    assert code == 0
    assert [c[0] for c in fake.calls] == ["upload", "edit"]
    assert fake.calls[1][1]["asset_id"] == "image_uploaded1"
    assert envelope["data"]["input_upload"] == {"asset_id": "image_uploaded1"}


# -- assets get and jobs wait ---------------------------------------------------


def _asset(body: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "asset_id": "image_abc",
        "url": "https://media.example.com/a/image_abc.png",
        "content_length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        **extra,
    }


def test_assets_get_writes_verified_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeClient
) -> None:
    fake.asset_result = ok({"asset": _asset(PNG)})
    fake.download_result = (200, {"content-length": str(len(PNG))}, PNG)
    out = tmp_path / "out" / "r.png"
    code, envelope = run_json(capsys, "assets", "get", "image_abc", "--output", str(out))
    assert code == 0, envelope
    assert out.read_bytes() == PNG
    assert envelope["data"]["output"]["bytes"] == len(PNG)
    assert envelope["data"]["output"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-length": "999"}, PNG),  # header disagrees
        ({}, PNG[:-1]),  # recorded size disagrees
        ({}, PNG[:-1] + b"\x01"),  # sha256 disagrees
    ],
)
def test_assets_get_mismatch_leaves_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fake: FakeClient,
    headers: dict[str, str],
    body: bytes,
) -> None:
    fake.asset_result = ok({"asset": _asset(PNG)})
    fake.download_result = (200, headers, body)
    out = tmp_path / "r.png"
    code, envelope = run_json(capsys, "assets", "get", "image_abc", "--output", str(out))
    assert code == 7
    assert envelope["error"]["code"] == "ASSET_DOWNLOAD_FAILED"
    assert list(tmp_path.iterdir()) == []


def _job(status: str, error: dict[str, Any] | None = None) -> Result:
    return ok({"job": {"job_id": "job_1", "status": status, "error": error}})


def test_jobs_wait_times_out(capsys: pytest.CaptureFixture[str], fake: FakeClient) -> None:
    fake.job_results = [_job("running")]
    code, envelope = run_json(
        capsys, "jobs", "wait", "job_1", "--timeout-ms", "30", "--poll-interval-ms", "5"
    )
    assert code == 8
    error = envelope["error"]
    assert error["code"] == "TIMEOUT"
    assert error["retryable"] is True
    assert error["recovery"]["suggested_command"].startswith("image-skill jobs wait job_1")


def test_jobs_wait_returns_terminal(capsys: pytest.CaptureFixture[str], fake: FakeClient) -> None:
    fake.job_results = [_job("queued"), _job("completed")]
    code, envelope = run_json(capsys, "jobs", "wait", "job_1", "--poll-interval-ms", "1")
    assert code == 0
    assert envelope["data"]["job"]["status"] == "completed"


def test_jobs_wait_failed_job_exits_with_its_code(
    capsys: pytest.CaptureFixture[str], fake: FakeClient
) -> None:
    fake.job_results = [_job("failed", {"code": "PROVIDER_FAILED", "message": "x"})]
    code, envelope = run_json(capsys, "jobs", "wait", "job_1")
    assert code == 7
    assert envelope["data"]["job"]["status"] == "failed"


# -- SDK request shapes ---------------------------------------------------------


class RecordingTransport:
    description = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str], Any]] = []

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        self.sent.append((method, path, headers, json.loads(body) if body else None))
        envelope = success("x", {}, trace_id="trace_0000000000000000")
        return RawResponse(200, {}, json.dumps(envelope).encode())

    def close(self) -> None:
        pass


def test_sdk_create_body_and_headers() -> None:
    transport = RecordingTransport()
    client = Client(transport=transport, token="isk_r_test")
    client.create("a cat", model="m.one", idempotency_key="k1")
    method, path, headers, body = transport.sent[0]
    assert (method, path) == ("POST", "/v1/create")
    assert body == {
        "prompt": "a cat",
        "model": "m.one",
        "aspect_ratio": "1:1",
        "dry_run": False,
        "accept_unknown_cost": False,
    }
    assert headers["Idempotency-Key"] == "k1"
    assert headers["authorization"] == "Bearer isk_r_test"


def test_sdk_catalog_is_unauthenticated_and_quotes_ids() -> None:
    transport = RecordingTransport()
    client = Client(transport=transport, token="isk_r_test")
    client.models()
    client.model("a/b c")
    client.capability("is.image.generate.preview.v1")
    client.jobs(limit=5, status="failed")
    client.edit("image_x", "p")
    assert [s[1] for s in transport.sent] == [
        "/v1/models",
        "/v1/models/a%2Fb%20c",
        "/v1/capabilities/is.image.generate.preview.v1",
        "/v1/jobs?limit=5&status=failed",
        "/v1/edit",
    ]
    assert all("authorization" not in s[2] for s in transport.sent[:3])
    assert transport.sent[4][3] == {
        "input_asset_id": "image_x",
        "prompt": "p",
        "aspect_ratio": "auto",
        "accept_unknown_cost": False,
    }


def test_sdk_download_file_url_only_when_embedded(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(PNG)
    client = Client(transport=RecordingTransport())
    with pytest.raises(ImageSkillError) as caught:
        client.download(path.as_uri())
    assert caught.value.code == "ASSET_DOWNLOAD_FAILED"
    status, headers, body = client.download(path.as_uri(), allow_file=True)
    assert (status, body, headers["content-length"]) == (200, PNG, str(len(PNG)))


def test_sdk_download_sends_no_token() -> None:
    seen: dict[str, Any] = {}

    class Spy(_Handler):
        def do_GET(self) -> None:
            seen.update(self.headers)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Spy)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        client = Client(transport=RecordingTransport(), token="isk_r_secret")
        status, _headers, body = client.download(
            f"http://127.0.0.1:{server.server_address[1]}/img/a.png"
        )
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200 and body == PNG
    assert not any(k.lower() == "authorization" for k in seen)


def test_human_create_output_shows_url_and_local_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeClient
) -> None:
    local = tmp_path / "store" / "x.png"
    fake.edit_result = ok(
        {"job_id": "job_9", "assets": [{"asset_id": "image_9", "url": local.as_uri()}]}
    )
    code = run(["edit", "--input", "image_abc", "--prompt", "x"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"image: {local}" in out
    assert "asset: image_9" in out
    assert "None" not in out
