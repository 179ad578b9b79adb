"""The console's gallery filters and pages, thumbnails made lazily for uploads, and buying
credits for an agent through (fake) Stripe Checkout."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from image_skill.service.assets.thumbnails import MAX_EDGE, thumbnail_key
from image_skill.service.console import gallery_routes
from image_skill.service.storage.memory import MemoryAssetStore
from tests.fakes.stripe_api import FakeStripe
from tests.support.agents import sign_up
from tests.support.apps import started_app
from tests.support.console import claim, sign_in
from tests.support.images import png_bytes
from tests.support.stripe_shop import PACK, SECRET_KEY

EMAIL = "owner@example.com"


def test_gallery_filters_pages_and_makes_upload_thumbnails_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "service-home"
    store = MemoryAssetStore()
    monkeypatch.setattr(gallery_routes, "PAGE_SIZE", 2)
    with started_app(database_url, home, store=store, mail_backend="outbox") as client:
        agent = sign_up(client, EMAIL, "painter")
        claim(client, agent, home)
        other = sign_up(client, EMAIL, "sketcher")
        claim(client, other, home)
        uploads = [
            agent.upload(png_bytes(600, 300, (i * 40, 10, 10))).json()["data"]["asset"]["asset_id"]
            for i in range(3)
        ]
        made = other.create(prompt="a harbour").json()["data"]["assets"][0]["asset_id"]
        sign_in(client, EMAIL, home)

        first = client.get("/console/gallery", params={"agent": agent.actor_id})
        assert first.status_code == 200
        assert [u in first.text for u in uploads] == [False, True, True]
        assert made not in first.text and "Older images" in first.text
        second = client.get(
            "/console/gallery", params={"agent": agent.actor_id, "cursor": uploads[1]}
        )
        assert uploads[0] in second.text and "Older images" not in second.text
        generated = client.get("/console/gallery", params={"kind": "generated"})
        assert made in generated.text and not any(u in generated.text for u in uploads)
        assert client.get("/console/gallery", params={"kind": "bogus"}).status_code == 400
        assert client.get("/console/gallery", params={"cursor": "x"}).status_code == 400
        # Hostile cursors: a NUL is refused before any page; a long one (the test client
        # sends no 10 MB URL) is no 5xx; a cursor that is no job id shows the first page.
        for page in ("/console/gallery", "/console/jobs"):
            assert client.get(page, params={"cursor": "job_a\x00b"}).status_code == 400
            assert client.get(page, params={"cursor": "job_" + "x" * 60_000}).status_code < 500
        assert client.get("/console/jobs", params={"cursor": "job_a b"}).status_code == 200

        # An upload has no thumbnail until asked; then it is made, kept and reused.
        shown = client.get(f"/v1/assets/{uploads[0]}", headers=agent.headers).json()["data"]
        upload_thumb = thumbnail_key(shown["asset"]["sha256"])
        assert upload_thumb not in store.objects
        thumb = client.get(f"/console/assets/{uploads[0]}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(thumb.content)) as small:
            assert small.format == "WEBP" and max(small.size) == MAX_EDGE
        assert store.objects[upload_thumb] == thumb.content
        assert client.get(f"/console/assets/{uploads[0]}/thumbnail").content == thumb.content
        # A job's output has none either until the gallery asks (a create makes none).
        made_sha = client.get(f"/v1/assets/{made}", headers=other.headers).json()["data"]
        made_thumb = thumbnail_key(made_sha["asset"]["sha256"])
        assert made_thumb not in store.objects
        assert client.get(f"/console/assets/{made}/thumbnail").status_code == 200
        assert made_thumb in store.objects


@pytest.mark.usefixtures("no_ambient_payment_settings")
def test_buying_credits_for_an_agent_opens_stripe_checkout(
    database_url: str, tmp_path: Path, fake_stripe: FakeStripe
) -> None:
    home = tmp_path / "service-home"
    stripe: dict[str, Any] = {"stripe_secret_key": SECRET_KEY, "stripe_api_base": fake_stripe.url}
    with started_app(database_url, home, mail_backend="outbox", **stripe) as client:
        agent = sign_up(client, EMAIL, "painter")
        claim(client, agent, home)
        stranger = sign_up(client, "stranger@example.com", "other")
        csrf = sign_in(client, EMAIL, home)
        balance = agent.quota()["credits"]["balance"]

        page = client.get("/console/credits")
        assert "Continue to Stripe Checkout" in page.text and PACK in page.text
        form = {"csrf": csrf, "agent_id": agent.actor_id, "pack_id": PACK}
        assert client.post("/console/credits/buy", data={**form, "csrf": ""}).status_code == 403
        foreign = {**form, "agent_id": stranger.actor_id}
        assert client.post("/console/credits/buy", data=foreign).status_code == 404
        assert fake_stripe.session_creates == []

        key = re.search(r'name="buy_key" value="([0-9a-f]{32})"', page.text)
        assert key
        form["buy_key"] = key.group(1)
        bought = client.post("/console/credits/buy", data=form)
        assert bought.status_code == 200, bought.text
        # The same form sent again (a double click) finds the same checkout.
        again = client.post("/console/credits/buy", data=form)
        assert again.status_code == 200 and again.text.count("checkout") == bought.text.count(
            "checkout"
        )
        [created] = fake_stripe.session_creates
        [session] = fake_stripe.sessions.values()
        assert session["url"] in bought.text
        assert SECRET_KEY not in bought.text
        # Checkout grants nothing until Stripe says it was paid.
        assert agent.quota()["credits"]["balance"] == balance
        assert created.form
