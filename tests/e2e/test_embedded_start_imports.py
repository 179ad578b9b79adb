"""The embedded service starts without the libraries only a server uses (issue 15).

The first embedded command waits for the local daemon to import and start the
service; every library it loads and never calls is start-up time on that
command. The PostgreSQL queue, the S3 store, Stripe, the provider SDKs, MCP,
the page templates and the OTLP exporter are all imported on first use (or by a
server at start-up, ``service.warm_up``), and the embedded app mounts no web
pages (console, claim link), so a fresh interpreter that imports the daemon,
builds the embedded app, runs its start-up and answers a request must not have
loaded them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NEVER = (
    "procrastinate",
    "psycopg",
    "obstore",
    "stripe",
    "openai",
    "fal_client",
    "mcp",
    "jinja2",
    "httpx",
    "opentelemetry.exporter",
    "opentelemetry.sdk",
    # Web pages nobody can open on a private socket (``image-skill serve`` serves them).
    "image_skill.service.console",
    "image_skill.service.claims.pages",
)

# What the daemon process does (daemon.process.main), minus the socket: import,
# build the embedded app, enter its lifespan, answer whoami, print sys.modules.
_START_AND_ASK = """
import asyncio, json, sys
import image_skill.daemon.process
from image_skill.server import create_server_app
from image_skill.service.settings import Settings

async def main():
    app = create_server_app(Settings(embedded=True))
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": "/v1/whoami", "raw_path": b"/v1/whoami",
        "query_string": b"", "root_path": "", "headers": [(b"host", b"embedded.local")],
        "client": ("127.0.0.1", 1), "server": ("embedded.local", 80),
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    return sent[0]["status"]

status = asyncio.run(main())
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def loaded(names: list[str]) -> list[str]:
    """The modules of ``names`` that fall under one of ``NEVER``."""
    return sorted(n for n in names if any(n == r or n.startswith(r + ".") for r in NEVER))


def start_embedded(home: Path, **env: str) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", _START_AND_ASK],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "IMAGE_SKILL_HOME": str(home),
            "PYTHONWARNINGS": "ignore",
            # A configured provider must not pull its SDK in at start either.
            "OPENAI_API_KEY": "sk-test-not-used",
            "FAL_KEY": "fal-test-not-used",
            **env,
        },
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    answer: dict[str, object] = json.loads(completed.stdout.splitlines()[-1])
    return answer


def test_the_embedded_start_leaves_server_only_libraries_unloaded(tmp_path: Path) -> None:
    answer = start_embedded(tmp_path / "data")
    assert answer["status"] == 200, answer["status"]
    modules = answer["modules"]
    assert isinstance(modules, list)
    assert "image_skill.service.app" in modules, "the service must have started"
    assert loaded(modules) == []


@pytest.mark.slow
def test_the_check_sees_a_library_the_start_does_load(tmp_path: Path) -> None:
    """An OTLP endpoint makes the service load the exporter: the listing catches it."""
    answer = start_embedded(
        tmp_path / "data",
        IMAGE_SKILL_TELEMETRY="on",
        IMAGE_SKILL_OTLP_ENDPOINT="http://127.0.0.1:9/",
    )
    modules = answer["modules"]
    assert isinstance(modules, list)
    assert any(n.startswith("opentelemetry.exporter") for n in loaded(modules))
