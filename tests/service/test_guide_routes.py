"""The guide over HTTP on a real app: the texts, the home page and offline API docs.

``/docs`` and ``/redoc`` must render on a machine without internet access, so
every script, stylesheet and image they reference is served by this app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from image_skill import guide
from tests.support.apps import started_app
from tests.support.webhooks import hooked_app

PUBLIC = "https://images.example.org"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A started server-mode app on SQLite with a public base URL."""
    url = f"sqlite:///{tmp_path / 'guide.db'}"
    with started_app(url, tmp_path / "home", public_base_url=PUBLIC) as started:
        yield started


@pytest.mark.parametrize(
    ("path", "name", "media_type"),
    [
        ("/skill.md", "skill", "text/markdown"),
        ("/cli.md", "cli", "text/markdown"),
        ("/llms.txt", "llms", "text/plain"),
    ],
)
def test_the_guide_texts_are_served_as_shipped(
    client: TestClient, path: str, name: str, media_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == guide.read(name)
    assert client.head(path).status_code in (200, 405)


def test_the_home_page_says_what_this_is_and_links_the_docs(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    assert "<script" not in html
    assert "pip install image-skill" in html
    assert f"IMAGE_SKILL_API_BASE_URL={PUBLIC}" in html
    links = re.findall(r'href="([^"]+)"', html)
    assert links == ["/skill.md", "/cli.md", "/llms.txt", "/docs", "/openapi.json", "/console"]
    for link in links:
        assert client.get(link).status_code == 200, link


def test_the_home_page_escapes_the_host_it_was_asked_for(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'guide.db'}"
    with started_app(url, tmp_path / "home") as started:
        html = started.get("/", headers={"host": 'evil"><b>x'}).text
    assert "<b>x" not in html


def _referenced(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_every_asset_from_this_service(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "cdn" not in html.lower()
    assert not re.search(r"https?://", html), re.findall(r"https?://\S+", html)
    references = _referenced(html)
    assets = [ref for ref in references if ref.startswith("/docs/static/")]
    assert len(assets) >= 2, references
    for ref in references:
        assert not urlsplit(ref).netloc, ref
        loaded = client.get(ref)
        assert loaded.status_code == 200, ref
        assert len(loaded.content) > 0
    if page == "/docs":
        assert (
            client.get("/docs/static/swagger-ui-bundle.js")
            .headers["content-type"]
            .startswith(("text/javascript", "application/javascript"))
        )
        assert client.get("/docs/oauth2-redirect").status_code == 200


def test_the_guide_routes_are_documented_and_need_no_token(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/", "/skill.md", "/cli.md", "/llms.txt"):
        assert "get" in spec["paths"][path], path
        assert "security" not in spec["paths"][path]["get"]
    assert "/docs" not in spec["paths"]


def test_an_unknown_static_asset_is_a_404_not_a_file_outside(client: TestClient) -> None:
    for path in ("/docs/static/nope.js", "/docs/static/../../../etc/passwd"):
        assert client.get(path).status_code == 404, path


def _refused_webhook_recovery(tmp_path: Path, public_base_url: str | None) -> dict[str, object]:
    """The recovery of a webhook URL refused as private, on an app with that public address."""
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    settings = {"webhook_allow_private_targets": False, "public_base_url": public_base_url}
    with hooked_app(url, tmp_path / "hooks-home", **settings) as app:
        response = app.claimed_agent().create(webhook_url="https://10.0.0.7/hook")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "WEBHOOK_TARGET_REFUSED"
    recovery = error["recovery"]
    assert isinstance(recovery, dict)
    return recovery


def test_recovery_docs_url_points_at_this_services_guide(tmp_path: Path) -> None:
    recovery = _refused_webhook_recovery(tmp_path, PUBLIC)
    assert recovery["docs_url"] == f"{PUBLIC}/skill.md"


def test_recovery_docs_url_is_left_alone_without_a_public_address(tmp_path: Path) -> None:
    recovery = _refused_webhook_recovery(tmp_path, None)
    assert str(recovery["docs_url"]).startswith("https://")
    assert not str(recovery["docs_url"]).endswith("/skill.md")


def test_the_guide_commands_over_the_cli_bridge_show_urls_not_server_paths(
    client: TestClient,
) -> None:
    skill = client.post("/v1/cli", json={"argv": ["skill", "--json"]})
    assert skill.status_code == 200, skill.text
    assert skill.json()["data"]["guide"] == guide.read("skill")
    docs = client.post("/v1/cli", json={"argv": ["docs"]})
    assert docs.status_code == 200, docs.text
    references = docs.json()["data"]["references"]
    assert all("path" not in entry for entry in references.values()), references
    assert references["guide"]["url"].endswith("/skill.md")
    assert str(Path(guide.local_path("skill") or "x").parent) not in docs.text
