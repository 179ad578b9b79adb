"""Unit tests for the ``local.sketch`` procedural renderer."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from image_skill.providers.image_output import RenderedImage, dimensions_for, encode_image
from image_skill.providers.sketch_render import render_sketch


def _decode(result: RenderedImage) -> Image.Image:
    image = Image.open(BytesIO(result.data))
    image.load()
    return image


def test_same_inputs_give_identical_bytes() -> None:
    for fmt in ("png", "jpeg", "webp"):
        a = render_sketch("a lighthouse at dusk", seed=42, width=128, height=96, output_format=fmt)
        b = render_sketch("a lighthouse at dusk", seed=42, width=128, height=96, output_format=fmt)
        assert a == b


def test_seed_none_is_deterministic_and_distinct_from_seeded() -> None:
    a = render_sketch("quiet harbour", seed=None, width=64, height=64)
    b = render_sketch("quiet harbour", seed=None, width=64, height=64)
    c = render_sketch("quiet harbour", seed=0, width=64, height=64)
    assert a.data == b.data
    assert a.data != c.data


def test_different_prompts_and_seeds_differ() -> None:
    outputs = {
        render_sketch(prompt, seed=seed, width=96, height=96).data
        for prompt in ("a cat", "a dog", "sunset over the sea", "neon city at night")
        for seed in (1, 2, 3)
    }
    assert len(outputs) == 12


def test_pixels_vary_across_prompts() -> None:
    a = _decode(render_sketch("forest in the rain", seed=1, width=64, height=64)).convert("RGB")
    b = _decode(render_sketch("volcano erupting", seed=1, width=64, height=64)).convert("RGB")
    assert a.tobytes() != b.tobytes()
    # The composition is not a flat colour.
    assert len(a.getcolors(maxcolors=64 * 64) or []) > 20


@pytest.mark.parametrize(
    ("fmt", "mime", "pil_format"),
    [
        ("png", "image/png", "PNG"),
        ("jpeg", "image/jpeg", "JPEG"),
        ("jpg", "image/jpeg", "JPEG"),
        ("webp", "image/webp", "WEBP"),
        ("PNG", "image/png", "PNG"),
    ],
)
def test_formats_decode_to_requested_size(fmt: str, mime: str, pil_format: str) -> None:
    result = render_sketch("mountains", seed=3, width=160, height=96, output_format=fmt)
    assert result.mime_type == mime
    assert (result.width, result.height) == (160, 96)
    image = _decode(result)
    assert image.format == pil_format
    assert image.size == (160, 96)
    assert image.mode == "RGB"


def test_png_has_no_text_metadata() -> None:
    image = _decode(render_sketch("my secret birthday plan", seed=1, width=32, height=32))
    assert not any(key in image.info for key in ("exif", "icc_profile", "comment"))
    assert b"secret" not in render_sketch("my secret", seed=1, width=32, height=32).data


def test_quality_changes_lossy_output() -> None:
    low = render_sketch("waves", seed=5, width=128, height=128, output_format="jpeg", quality=10)
    high = render_sketch("waves", seed=5, width=128, height=128, output_format="jpeg", quality=95)
    assert len(low.data) < len(high.data)


def test_extreme_sizes() -> None:
    small = render_sketch("tiny", seed=1, width=16, height=16)
    assert _decode(small).size == (16, 16)
    wide = render_sketch("panorama", seed=1, width=1024, height=16)
    assert _decode(wide).size == (1024, 16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 15, "height": 64},
        {"width": 64, "height": 4097},
        {"width": 64.0, "height": 64},
        {"width": True, "height": 64},
        {"width": 64, "height": 64, "output_format": "gif"},
        {"width": 64, "height": 64, "output_format": "jpeg", "quality": 0},
        {"width": 64, "height": 64, "output_format": "webp", "quality": 101},
    ],
)
def test_validation_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        render_sketch("x", seed=1, **kwargs)


def test_seed_must_be_int() -> None:
    with pytest.raises(ValueError, match="seed"):
        render_sketch("x", seed="7", width=32, height=32)


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        ("1:1", (1024, 1024)),
        ("16:9", (1024, 576)),
        ("9:16", (576, 1024)),
        ("4:3", (1024, 768)),
        ("3:4", (768, 1024)),
        ("3:2", (1024, 688)),
        ("2:3", (688, 1024)),
        ("21:9", (1024, 432)),
        ("5:4", (1024, 816)),
        ("4:5", (816, 1024)),
        (" 16 : 9 ", (1024, 576)),
        ("100:1", (1024, 16)),
    ],
)
def test_dimensions_for(ratio: str, expected: tuple[int, int]) -> None:
    assert dimensions_for(ratio) == expected


def test_dimensions_for_long_edge_and_multiples_of_16() -> None:
    assert dimensions_for("16:9", 512) == (512, 288)
    assert dimensions_for("1:1", 1000) == (1008, 1008)
    for ratio in ("7:3", "3:7", "13:11", "99:100"):
        w, h = dimensions_for(ratio, 768)
        assert w % 16 == 0 and h % 16 == 0
        assert max(w, h) == 768


@pytest.mark.parametrize("ratio", ["", "16x9", "16:", ":9", "0:1", "1:0", "101:1", "a:b", "-1:2"])
def test_dimensions_for_rejects_malformed(ratio: str) -> None:
    with pytest.raises(ValueError):
        dimensions_for(ratio)


@pytest.mark.parametrize("long_edge", [0, 8, 5000])
def test_dimensions_for_rejects_bad_long_edge(long_edge: int) -> None:
    with pytest.raises(ValueError):
        dimensions_for("1:1", long_edge)


def test_encode_image_flattens_alpha_for_jpeg() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    result = encode_image(rgba, "jpeg")
    image = _decode(result)
    assert image.mode == "RGB"
    r, g, b = image.getpixel((4, 4))  # type: ignore[misc]
    assert min(r, g, b) > 240  # transparent pixels become white
