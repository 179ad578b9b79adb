"""The CLI's light paths stay light: no web framework, ORM, imaging or HTTP library.

Agents call ``--version`` to probe an install and run hosted commands in tight
loops; each of these packages costs tens to hundreds of milliseconds to import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.servers import free_port

HEAVY = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "PIL",
    "pydantic",
    "pydantic_core",
    "uvicorn",
    "httpx",
    "rich",
    "alembic",
)


def imported_modules(*python_args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module a fresh interpreter imported, from ``-X importtime``'s stderr."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", *python_args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    modules = set()
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        name = line.rsplit("|", 1)[-1].strip()
        if name and name != "imported package":
            modules.add(name)
    return modules, completed


def heavy_in(modules: set[str], extra: tuple[str, ...] = ()) -> list[str]:
    roots = HEAVY + extra
    return sorted(
        name for name in modules if any(name == r or name.startswith(r + ".") for r in roots)
    )


def test_the_parser_sees_heavy_imports() -> None:
    modules, _ = imported_modules("-c", "import pydantic")
    assert "image_skill" not in modules
    assert heavy_in(modules) and "pydantic" in heavy_in(modules)


def test_version_is_light() -> None:
    modules, completed = imported_modules("-m", "image_skill", "--version")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.startswith("image-skill ")
    assert "image_skill.cli.main" in modules
    assert heavy_in(modules, ("image_skill.service",)) == []


def test_importing_the_cli_is_light() -> None:
    modules, completed = imported_modules("-c", "import image_skill.cli.main")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "image_skill.cli.main" in modules
    assert heavy_in(modules, ("image_skill.service",)) == []


@pytest.mark.parametrize("command", [["whoami"], ["usage", "quota"], ["doctor"]])
def test_hosted_commands_are_light(command: list[str]) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the call fails to connect
    modules, completed = imported_modules(
        "-m", "image_skill", "--api-base-url", base_url, *command, "--json"
    )
    envelope = json.loads(completed.stdout)
    assert envelope["ok"] is False, envelope
    assert completed.returncode == 7, completed.stdout  # service unreachable
    assert "image_skill.client" in modules, "the hosted path must have run"
    assert heavy_in(modules, ("image_skill.service", "image_skill.transport.embedded")) == []


@pytest.mark.parametrize("command", [["models", "list"], ["whoami"]])
def test_embedded_commands_leave_provider_sdks_unloaded(command: list[str]) -> None:
    """The embedded service lists models and answers without importing their SDKs."""
    modules, completed = imported_modules("-m", "image_skill", *command, "--json")
    assert completed.returncode == 0, completed.stdout[-2000:]
    assert "image_skill.service.app" in modules, "the embedded path must have run"
    sdks = ("openai", "fal_client", "jsonschema", "torch", "diffusers")
    loaded = [name for name in modules if name.split(".")[0] in sdks]
    assert loaded == [], sorted(loaded)[:10]


def test_the_service_does_not_import_the_cli() -> None:
    """The service stands alone: the CLI, the SDK and the ``/v1/cli`` bridge sit above it."""
    above = ("image_skill.cli", "image_skill.client", "image_skill.bridge", "image_skill.server")
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import image_skill.service.app, sys; "
            f"print(sorted(m for m in sys.modules if m.startswith({above!r})))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "[]", completed.stdout
