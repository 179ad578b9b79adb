"""The fal adapter's resume and cancel against the local fake of fal's queue API.

Resume is how a job whose executor died after the submit is finished without a
second (billed) submit; cancel is how a canceled job stops costing at fal.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from image_skill.contract.errors import ImageSkillError
from image_skill.providers.base import GenerationRequest
from image_skill.providers.fal_images import FalImageModel, build_models
from tests.fakes.fal_api import FakeFal, Outcome

FAL_KEY = "fal-resume-key"


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(FAL_KEY) as fake:
        monkeypatch.setenv("FAL_QUEUE_RUN_HOST", fake.host)
        monkeypatch.setenv("FAL_KEY", FAL_KEY)
        yield fake


def flux() -> FalImageModel:
    [model] = [m for m in build_models() if m.model_id == "fal.flux-dev"]
    assert isinstance(model, FalImageModel)
    return model


def request() -> GenerationRequest:
    return GenerationRequest(
        operation="create",
        prompt="a harbour at dusk",
        parameters={"seed": 7},
        width=None,
        height=None,
        aspect_ratio="1:1",
        output_format="png",
    )


def submitted_and_held(fal: FakeFal) -> str:
    """Submit through the adapter, and stop it once fal has the request (as a crash would)."""
    fal.outcome = Outcome(kind="hold")
    seen: list[str] = []

    async def crash_after_submit() -> None:
        async def record(request_id: str) -> None:
            seen.append(request_id)
            raise KeyboardInterrupt  # the process "dies" right after recording the id

        held = GenerationRequest(**{**request().__dict__, "record_provider_request": record})
        with pytest.raises(KeyboardInterrupt):
            await flux().generate(held)

    anyio.run(crash_after_submit)
    [request_id] = seen
    return request_id


def test_resume_fetches_the_recorded_request_without_submitting_again(fal: FakeFal) -> None:
    request_id = submitted_and_held(fal)
    fal.release()
    images = anyio.run(flux().resume, request_id, request())
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert len(fal.submits) == 1
    assert images[0].data == fal.requests[request_id].images[0]


def test_resume_of_a_request_fal_does_not_know_fails_without_submitting(fal: FakeFal) -> None:
    with pytest.raises(ImageSkillError) as raised:
        anyio.run(flux().resume, "0123456789abcdef-fal", request())
    assert raised.value.code == "PROVIDER_FAILED"
    assert fal.submits == []


@pytest.mark.parametrize("hostile", ["../../files/x", "a/b", "id?x=1", "", "x" * 200])
def test_a_hostile_request_id_never_reaches_a_url(fal: FakeFal, hostile: str) -> None:
    with pytest.raises(ImageSkillError) as raised:
        anyio.run(flux().resume, hostile, request())
    assert raised.value.code == "PROVIDER_FAILED" and raised.value.retryable is False
    assert anyio.run(flux().cancel, hostile) is False
    assert fal.cancels == []


def test_cancel_reaches_fal_and_ends_the_request(fal: FakeFal) -> None:
    request_id = submitted_and_held(fal)
    assert anyio.run(flux().cancel, request_id) is True
    assert fal.cancels == [request_id]
    with pytest.raises(ImageSkillError):
        anyio.run(flux().resume, request_id, request())  # fal answers "cancelled"


def test_cancel_when_fal_is_unreachable_is_false_not_an_error(
    fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_QUEUE_RUN_HOST", "127.0.0.1:9")  # nothing listens there
    assert anyio.run(flux().cancel, "0123456789abcdef-fal") is False
