"""The app in-process: server-mode settings and a started app behind Starlette's TestClient."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from image_skill.server import create_server_app
from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore

with warnings.catch_warnings():
    # Starlette nags about httpx vs httpx2 on import; the client works either way.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PEPPER = "service-test-pepper"


def service_settings(database_url: str, home: Path) -> Settings:
    """Server-mode settings on ``database_url`` (no embedded owner, a known pepper)."""
    return Settings(
        database_url=database_url,
        home=home,
        embedded=False,
        environment="test",
        token_pepper=PEPPER,
    )


@contextmanager
def started_app(
    database_url: str, home: Path, *, store: AssetStore | None = None, **overrides: Any
) -> Iterator[TestClient]:
    """A started app with server-mode settings plus ``overrides``."""
    settings = service_settings(database_url, home).model_copy(update=overrides)
    with TestClient(create_server_app(settings, store=store)) as client:
        yield client


def stored_files(home: Path) -> set[str]:
    """Every file under the local asset store (relative paths)."""
    root = home / "assets"
    if not root.exists():
        return set()
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
