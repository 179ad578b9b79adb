"""``local.diffusers`` through the real CLI and a real server, on a tiny random pipeline.

``tiny_diffusers`` builds and saves a randomly initialised Stable Diffusion
pipeline once per session; the service loads it from that directory exactly
as it would load real weights, and runs it on the CPU. The server runs with an
audit hook that records every outbound connection or name lookup, so the tests
can show nothing reached for the network. Catalog and configuration checks
run in embedded mode and need no pipeline.

The extra is optional locally (the pipeline tests skip without it) but
mandatory in CI, where a skip would hide a broken install.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from image_skill.providers import diffusers_pipelines as pipelines
from image_skill.providers.diffusers_pipelines import DEVICE_ENV, MODEL_DIR_ENV
from image_skill.providers.local_diffusers import error_for
from tests.support.agents import cli_sign_up
from tests.support.cli import CliRun, RunCli, checked, expect
from tests.support.images import open_image, sha256
from tests.support.servers import Server, start_server, stop_server
from tests.support.web import fetch

pytestmark = pytest.mark.slow

MODEL = "local.diffusers"
FAST = {"num_inference_steps": 2}  # tiny and quick; the weights are random anyway
NETWORK_LOG_ENV = "IMAGE_SKILL_TEST_NETWORK_LOG"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
AUDIT_ACTIVE = "audit active"
# Loaded into the server through PYTHONPATH: logs every outbound connect and name lookup.
NETWORK_AUDIT = f"""
import os, sys

_LOG = os.environ["{NETWORK_LOG_ENV}"]

def _write(line):
    with open(_LOG, "a", encoding="utf-8") as handle:
        handle.write(line + "\\n")

def _audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        address = args[1] if event == "socket.connect" else args[0]
        host = address[0] if isinstance(address, tuple) else address
        _write(f"{{event}} {{host!s}}")

sys.addaudithook(_audit)
_write("{AUDIT_ACTIVE}")
"""


def _extra_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("torch", "diffusers", "transformers"))


@pytest.fixture(scope="session")
def diffusers_extra() -> None:
    """Skip without ``image-skill[diffusers]``, except in CI where that is a failure."""
    if not _extra_installed():
        if os.environ.get("CI"):
            pytest.fail("image-skill[diffusers] must be installed in CI (scripts/test does it)")
        pytest.skip(
            "image-skill[diffusers] is not installed (torch first, the CPU build: "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu, "
            "then pip install -e '.[diffusers]')"
        )


@pytest.fixture(scope="session")
def tiny_pipeline(diffusers_extra: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The saved tiny pipeline's directory (built once per test process)."""
    from tests.providers.tiny_diffusers import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture(scope="module")
def diffusers_server(
    tiny_pipeline: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``image-skill serve`` with ``local.diffusers`` on the tiny pipeline, CPU only."""
    workdir = tmp_path_factory.mktemp("diffusers-server")
    (workdir / "audit").mkdir()
    (workdir / "audit" / "sitecustomize.py").write_text(NETWORK_AUDIT, encoding="utf-8")
    pythonpath = [str(workdir / "audit"), os.environ.get("PYTHONPATH", "")]
    env = {
        MODEL_DIR_ENV: str(tiny_pipeline),
        DEVICE_ENV: "cpu",
        "OMP_NUM_THREADS": "1",  # more threads only fight the other xdist worker
        "PYTHONPATH": os.pathsep.join(filter(None, pythonpath)),
        NETWORK_LOG_ENV: str(workdir / "network.log"),
        "HF_HOME": str(workdir / "hf-home"),
        "IMAGE_SKILL_ENVIRONMENT": "test",
        "IMAGE_SKILL_TELEMETRY": "off",
        "IMAGE_SKILL_FREE_PREVIEW_CREDITS": "100",
        "IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "100",
    }
    server = start_server(f"sqlite:///{workdir / 'test.db'}", workdir, extra_env=env)
    yield server
    stop_server(server)


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


@pytest.fixture
def agent_env(run: RunCli, diffusers_server: Server) -> Iterator[dict[str, str]]:
    """CLI env acting as a fresh agent on the server; afterwards, the server must not have
    reached for anything but loopback."""
    name = f"diffusers-{uuid.uuid4().hex[:8]}"
    agent = cli_sign_up(
        run, diffusers_server.base_url, email=f"{name}@example.com", name=name, save=False
    )
    yield {**agent.env, "IMAGE_SKILL_API_BASE_URL": diffusers_server.base_url}
    log = diffusers_server.log_path.parent / "network.log"  # the server's workdir
    marker, *events = log.read_text(encoding="utf-8").splitlines()
    assert marker == AUDIT_ACTIVE
    assert [event for event in events if event.split(" ", 1)[1] not in LOOPBACK] == []


def creative(run: RunCli, env: dict[str, str] | None, *args: str, params: dict[str, Any]) -> CliRun:
    """``create`` or ``edit`` (``args``) of ``local.diffusers`` with ``params``."""
    return run(
        *args, "--model", MODEL, "--model-parameters-json", json.dumps(params), "--json", env=env
    )


def made(result: CliRun) -> tuple[dict[str, Any], bytes]:
    """The one asset of a successful create/edit, and its bytes fetched by URL."""
    (asset,) = expect(result, 0)["data"]["assets"]
    body = fetch(asset["url"])
    assert sha256(body) == asset["sha256"]
    return asset, body


# -- catalog and configuration: no pipeline needed ----------------------------------------


def test_unset_directory_is_listed_and_refused_with_the_variable(
    run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    listed = expect(run("models", "list", "--json"), 0)["data"]["models"]
    (entry,) = [m for m in listed if m["model_id"] == MODEL]
    assert entry["availability"]["configured"] is False
    assert entry["availability"]["missing_env"] == [MODEL_DIR_ENV]
    assert MODEL_DIR_ENV in entry["availability"]["how_to_enable"]
    assert entry["cost"]["credit_pricing"]["pricing_confidence"] == "known"
    refused = expect(
        creative(run, None, "create", "--prompt", "a kite", params={}), 4, "MODEL_NOT_CONFIGURED"
    )
    assert refused["error"]["details"]["missing_env"] == [MODEL_DIR_ENV]
    # The message itself says what to do, and points at this model's own details.
    assert MODEL_DIR_ENV in refused["error"]["message"]
    assert (
        refused["error"]["recovery"]["suggested_command"]
        == f"image-skill models show {MODEL} --json"
    )
    # Human mode: one line per model, ready or what is missing.
    human = run("models")
    assert human.exit_code == 0, human.stderr
    lines = {line.split()[0]: line for line in human.stdout.splitlines() if line.strip()}
    assert lines["local.sketch"].endswith("ready")
    assert f"not configured: set {MODEL_DIR_ENV}" in lines[MODEL]
    assert "create,edit" in lines[MODEL]


def test_a_missing_directory_is_not_configured_and_never_named(
    run: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = tmp_path / "private-weights-3f9a"
    monkeypatch.setenv(MODEL_DIR_ENV, str(directory))
    shown = expect(run("models", "show", MODEL, "--json"), 0)["data"]["model"]
    assert shown["availability"]["configured"] is False
    assert shown["availability"]["missing_env"] == [MODEL_DIR_ENV]
    result = creative(run, None, "create", "--prompt", "a kite", params={})
    refused = expect(result, 4, "MODEL_NOT_CONFIGURED")
    assert refused["error"]["details"]["missing_env"] == [MODEL_DIR_ENV]
    assert "save_pretrained" in refused["error"]["details"]["how_to_enable"]
    assert "private-weights" not in result.stdout + result.stderr


def _torch_with(*, cuda: bool, mps: bool) -> Any:
    """Just enough of torch for device selection."""
    return SimpleNamespace(
        cuda=SimpleNamespace(is_available=lambda: cuda),
        backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps)),
    )


def test_auto_prefers_cuda_then_mps_and_a_missing_device_names_the_variable() -> None:
    assert pipelines.resolve_device(_torch_with(cuda=True, mps=True), "auto") == "cuda"
    assert pipelines.resolve_device(_torch_with(cuda=False, mps=True), "auto") == "mps"
    assert pipelines.resolve_device(_torch_with(cuda=False, mps=False), "auto") == "cpu"
    with pytest.raises(pipelines.PipelineUnavailable) as refused:
        pipelines.resolve_device(_torch_with(cuda=False, mps=False), "cuda")
    assert refused.value.variable == DEVICE_ENV


@pytest.mark.parametrize(
    ("raised", "retryable"),
    [
        (RuntimeError("CUDA out of memory reading /srv/private-weights for 'a secret'"), False),
        (ValueError("bad tensor shape in /srv/private-weights for 'a secret'"), True),
    ],
)
def test_pipeline_failures_are_provider_failed_without_their_text(
    raised: Exception, retryable: bool
) -> None:
    error = error_for(raised)
    assert (error.code, error.retryable) == ("PROVIDER_FAILED", retryable)
    assert "private-weights" not in error.message and "secret" not in error.message


# -- generation on the tiny pipeline, through a real server -------------------------------


def test_configured_when_the_directory_is_set(run: RunCli, agent_env: dict[str, str]) -> None:
    shown = expect(run("models", "show", MODEL, "--json", env=agent_env), 0)["data"]["model"]
    assert shown["availability"] == {"configured": True, "missing_env": [], "how_to_enable": None}
    assert set(shown["operations"]) == {"create", "edit"}


@pytest.mark.parametrize(
    ("command", "params", "field"),
    [
        ("create", {"scheduler": "ddim"}, "model_parameters.scheduler"),
        ("create", {"strength": 0.5}, "model_parameters.strength"),
        ("create", {"long_edge": 100}, "model_parameters.long_edge"),
        ("edit", {"strength": 0.1, "num_inference_steps": 5}, "model_parameters.strength"),
    ],
)
def test_parameters_are_refused_before_any_work(
    run: RunCli, agent_env: dict[str, str], command: str, params: dict[str, Any], field: str
) -> None:
    extra = ("--input", "image_doesnotmatter") if command == "edit" else ()
    result = creative(run, agent_env, command, *extra, "--prompt", "a kite", params=params)
    refused = expect(result, 2, "MODEL_PARAMETERS_INVALID")
    assert refused["error"]["details"]["field"] == field


@pytest.mark.parametrize(
    ("ratio", "params", "output", "size"),
    [
        ("1:1", {}, "png", (64, 64)),  # the tiny model's native size
        ("3:2", {"long_edge": 96}, "webp", (96, 64)),
        ("9:16", {"long_edge": 128}, "jpeg", (80, 128)),  # 72 rounds to 80
    ],
)
def test_create_stores_an_image_of_the_requested_size(
    run: RunCli,
    agent_env: dict[str, str],
    ratio: str,
    params: dict[str, Any],
    output: str,
    size: tuple[int, int],
) -> None:
    args = ("create", "--prompt", "a lighthouse", "--aspect-ratio", ratio, "--format", output)
    asset, body = made(creative(run, agent_env, *args, params={**FAST, "seed": 1, **params}))
    image = open_image(body)
    assert image.size == size == (asset["width"], asset["height"])
    assert image.format == {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG"}[output]


def test_the_seed_decides_the_bytes(run: RunCli, agent_env: dict[str, str]) -> None:
    def digest(seed: int) -> str:
        args = ("create", "--prompt", "a red kite")
        asset, _ = made(creative(run, agent_env, *args, params={**FAST, "seed": seed}))
        return str(asset["sha256"])

    first = digest(42)
    assert digest(42) == first
    assert digest(43) != first


def test_edit_runs_image_to_image_on_a_created_asset(
    run: RunCli, agent_env: dict[str, str]
) -> None:
    args = ("create", "--prompt", "a lighthouse", "--aspect-ratio", "3:2")
    source, source_bytes = made(creative(run, agent_env, *args, params={**FAST, "long_edge": 96}))
    edit = ("edit", "--input", source["asset_id"], "--prompt", "the lighthouse at night")
    params = {"strength": 0.5, "num_inference_steps": 4, "seed": 5, "long_edge": 96}
    edited, edited_bytes = made(creative(run, agent_env, *edit, params=params))
    assert open_image(edited_bytes).size == (96, 64)  # auto keeps the input's shape
    assert edited["sha256"] != source["sha256"] and edited_bytes != source_bytes
    square, square_bytes = made(
        creative(run, agent_env, *edit, "--aspect-ratio", "1:1", params={**params, "long_edge": 64})
    )
    assert open_image(square_bytes).size == (64, 64) == (square["width"], square["height"])


def test_a_directory_that_is_not_a_pipeline_is_refused_without_its_path(
    diffusers_extra: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "private-weights-77c1"
    directory.mkdir()
    (directory / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with caplog.at_level(logging.DEBUG), pytest.raises(pipelines.PipelineUnavailable) as failed:
        pipelines.load(str(directory), "cpu")
    error = error_for(failed.value)
    assert (error.code, error.exit_code) == ("MODEL_NOT_CONFIGURED", 4)
    assert MODEL_DIR_ENV in error.message and error.details == {"missing_env": [MODEL_DIR_ENV]}
    assert "private-weights" not in error.message + caplog.text


class _SetAfter(threading.Event):
    """An event that reads as set from its ``checks + 1``-th look on."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.checks = checks

    def is_set(self) -> bool:
        self.checks -= 1
        return self.checks < 0


def test_an_abandoned_call_stops_at_the_next_step(tiny_pipeline: Path) -> None:
    loaded = pipelines.load(str(tiny_pipeline), "cpu")
    arguments = {"prompt": "a kite", "num_inference_steps": 50, "width": 64, "height": 64}
    with pytest.raises(pipelines.Abandoned):
        pipelines.run(loaded, "create", arguments, 1, _SetAfter(1))  # set after the first step
    assert loaded.lock.acquire(blocking=False)  # the lock was released on the way out
    loaded.lock.release()
