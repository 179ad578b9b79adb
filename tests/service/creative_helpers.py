"""Helpers for the create/edit/upload/assets/jobs API tests (not a conftest).

The counting provider plugin is loaded by naming it in ``IMAGE_SKILL_PLUGINS``
and clearing the cached model table; apps with special settings (a short
provider timeout, a failing store, a small upload limit) are started here.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session as SyncSession

from conftest import assert_envelope, service_settings
from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.errors import spec_for
from image_skill.providers.plugins import default_models
from image_skill.service.app import create_app
from image_skill.service.db.models import CreditLedgerEntry
from image_skill.service.storage.base import AssetStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugins.counting_provider"
CALL_LOG_ENV = "IMAGE_SKILL_TEST_CALL_LOG"
CREATE_CAPABILITY = "is.image.generate.preview.v1"
COUNTED_TABLES = ("jobs", "assets", "credit_ledger_entries", "idempotency_records")


# --- the counting plugin -----------------------------------------------------------------


def install_counting_plugin(monkeypatch: pytest.MonkeyPatch, call_log: Path) -> ModuleType:
    """Make the test models part of every app built from now on; returns the plugin module.

    The caller must ``default_models.cache_clear()`` again when done (see ``counting``).
    """
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    monkeypatch.setenv("IMAGE_SKILL_PLUGINS", PLUGIN)
    monkeypatch.setenv(CALL_LOG_ENV, str(call_log))
    module = importlib.import_module(PLUGIN)
    module.reset()
    default_models.cache_clear()
    return module


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """The plugin installed for the duration of the block; the model cache reset after."""
    try:
        yield install_counting_plugin(monkeypatch, tmp_path / "provider-calls.log")
    finally:
        default_models.cache_clear()


# --- apps and agents ---------------------------------------------------------------------


@contextmanager
def started_app(
    database_url: str, home: Path, *, store: AssetStore | None = None, **overrides: Any
) -> Iterator[TestClient]:
    """A started app with server-mode settings plus ``overrides``."""
    settings = service_settings(database_url, home).model_copy(update=overrides)
    with TestClient(create_app(settings, store=store)) as client:
        yield client


@dataclass
class Agent:
    """A signed-up agent and the client it talks through."""

    client: TestClient
    token: str
    actor_id: str
    organization_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, body: dict[str, Any], *, key: str | None = None) -> Response:
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(path, json=body, headers=headers)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.client.get(path, headers=self.headers, **kwargs)

    def create(self, key: str | None = None, **body: Any) -> Response:
        return self.post("/v1/create", {"prompt": "a quiet harbour", **body}, key=key)

    def edit(self, key: str | None = None, **body: Any) -> Response:
        return self.post("/v1/edit", body, key=key)

    def upload(self, data: bytes, **overrides: Any) -> Response:
        return self.post("/v1/upload", upload_body(data, **overrides))

    def quota(self) -> dict[str, Any]:
        response = self.get("/v1/quota")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data


def sign_up(client: TestClient, email: str = "human@example.com", name: str = "bot") -> Agent:
    """A new unclaimed agent in an organization of its own (whatever the email)."""
    body = {"human_email": email, "agent_name": name, "runtime": "pytest", "return_token": True}
    response = client.post("/v1/agent-signups", json=body)
    assert response.status_code in (200, 201), response.text
    envelope = response.json()
    actor = envelope["actor"] or envelope["data"]["actor"]
    return Agent(client, envelope["data"]["token"], actor["actor_id"], actor["organization_id"])


# --- responses ---------------------------------------------------------------------------


def ok(response: Response, status: int = 201) -> dict[str, Any]:
    """The data of a success envelope (asserting status, shape and exit header 0)."""
    assert response.status_code == status, response.text
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=True)
    assert response.headers[EXIT_CODE_HEADER] == "0"
    data: dict[str, Any] = envelope["data"]
    return data


def check_error(response: Response, code: str, exit_code: int) -> dict[str, Any]:
    """The error object of an error envelope with ``code`` and exit header ``exit_code``."""
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=False)
    assert envelope["error"]["code"] == code, envelope["error"]
    assert response.headers[EXIT_CODE_HEADER] == str(exit_code)
    assert response.status_code == spec_for(code).http_status
    error: dict[str, Any] = envelope["error"]
    return error


# --- looking behind the API --------------------------------------------------------------


def row_counts(db: Engine) -> dict[str, int]:
    """Rows of the tables a creative call may write."""
    with db.connect() as conn:
        return {
            table: int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
            for table in COUNTED_TABLES
        }


def ledger_rows(db: Engine, job_id: str) -> list[CreditLedgerEntry]:
    """Ledger rows of one job, oldest first."""
    with SyncSession(db) as session:
        query = (
            select(CreditLedgerEntry)
            .where(CreditLedgerEntry.job_id == job_id)
            .order_by(CreditLedgerEntry.created_at, CreditLedgerEntry.id)
        )
        return list(session.execute(query).scalars())


def ledger_sum(db: Engine, actor_id: str) -> int:
    """The balance as the ledger's sum."""
    with SyncSession(db) as session:
        query = select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
            CreditLedgerEntry.actor_id == actor_id
        )
        return int(session.execute(query).scalar_one())


def stored_files(home: Path) -> set[str]:
    """Every file under the local asset store (relative paths)."""
    root = home / "assets"
    if not root.exists():
        return set()
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


# --- images ------------------------------------------------------------------------------


def png(width: int = 32, height: int = 16, color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    """A real PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def sniff(data: bytes) -> str:
    """png / jpeg / webp / other, from magic bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "other"


def upload_body(data: bytes, **overrides: Any) -> dict[str, Any]:
    """A well-formed upload request for ``data`` (declared length and digest correct)."""
    body: dict[str, Any] = {
        "source_kind": "local_path",
        "filename": "input.png",
        "remote_origin": None,
        "mime_type": "image/png",
        "content_length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes_base64": base64.b64encode(data).decode(),
    }
    body.update(overrides)
    return body
